# cmake -DSOURCE_DIR=... -DVERSION=... -DOUT=build_info.cc -P build_info.cmake
# Writes OUT with the project version and `git describe --always --dirty` of
# SOURCE_DIR, for `spate --version`. Run at every build, not only at configure
# time, so a binary never names a commit it was not built from; OUT is
# rewritten only when its text changes, so an unchanged tree relinks nothing.
set(build "unknown")
find_program(GIT git)
if(GIT)
  # Only the tree's own repository counts: sources unpacked from a tarball
  # inside some other checkout must not report that checkout's commit.
  execute_process(COMMAND ${GIT} -C ${SOURCE_DIR} rev-parse --show-toplevel
                  OUTPUT_VARIABLE top RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  get_filename_component(top "${top}" REALPATH)
  get_filename_component(src "${SOURCE_DIR}" REALPATH)
  if(rc EQUAL 0 AND top STREQUAL src)
    execute_process(COMMAND ${GIT} -C ${SOURCE_DIR} describe --always --dirty
                    OUTPUT_VARIABLE described RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(rc EQUAL 0 AND described)
      set(build "${described}")
    endif()
  endif()
endif()
file(CONFIGURE OUTPUT "${OUT}" @ONLY CONTENT [[
// Generated at build time by cmake/build_info.cmake.
namespace spate {
extern const char kVersion[] = "@VERSION@";
extern const char kBuild[] = "@build@";
}  // namespace spate
]])
