// Status: the error value that crosses library boundaries (leveldb style).
#pragma once

#include <string>
#include <utility>

namespace spate {

class Status {
 public:
  enum class Code { kOk, kInvalid, kNotFound, kUnauthorized, kForbidden, kConflict, kIo, kUnavailable, kCorrupt };

  Status() = default;
  static Status Ok() { return Status(); }
  static Status Invalid(std::string m) { return Status(Code::kInvalid, std::move(m)); }
  static Status NotFound(std::string m) { return Status(Code::kNotFound, std::move(m)); }
  static Status Unauthorized(std::string m) { return Status(Code::kUnauthorized, std::move(m)); }
  // Known caller, not allowed to do this (e.g. a host speaking from another address).
  static Status Forbidden(std::string m) { return Status(Code::kForbidden, std::move(m)); }
  static Status Conflict(std::string m) { return Status(Code::kConflict, std::move(m)); }
  static Status Io(std::string m) { return Status(Code::kIo, std::move(m)); }
  static Status Unavailable(std::string m) { return Status(Code::kUnavailable, std::move(m)); }
  static Status Corrupt(std::string m) { return Status(Code::kCorrupt, std::move(m)); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const { return ok() ? "ok" : message_; }

  // HTTP status code that best describes this status.
  int http_status() const {
    switch (code_) {
      case Code::kOk: return 200;
      case Code::kInvalid: return 400;
      case Code::kUnauthorized: return 401;
      case Code::kForbidden: return 403;
      case Code::kNotFound: return 404;
      case Code::kConflict: return 409;
      case Code::kCorrupt: return 422;
      case Code::kUnavailable: return 503;
      case Code::kIo: return 500;
    }
    return 500;
  }

 private:
  Status(Code c, std::string m) : code_(c), message_(std::move(m)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

// A value or the Status explaining why there is none.
template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status s) : status_(std::move(s)) {}    // NOLINT
  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() { return value_; }
  const T& value() const { return value_; }
  T* operator->() { return &value_; }
  const T* operator->() const { return &value_; }
  T& operator*() { return value_; }

 private:
  Status status_;
  T value_{};
};

}  // namespace spate
