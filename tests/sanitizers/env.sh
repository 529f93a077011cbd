# Sourced by scripts/test --sanitize: runtime options for every test process and
# the spate daemons they start (children inherit the environment).
# halt_on_error: the first report ends the process with a non-zero status, and
# tests/support/cluster.cc fails the test when a child's log holds a report.
_spate_san_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=1
export LSAN_OPTIONS=suppressions=$_spate_san_dir/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$_spate_san_dir/tsan.supp
unset _spate_san_dir
