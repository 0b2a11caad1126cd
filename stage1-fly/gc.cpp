// The fly stage1's `gc`: fly sets up nothing outside the pod directory (its mounts live in the
// app's own mount namespace and vanish with it), so there is nothing to release.
#include "common/main_wrapper.h"
#include "common/stage1_args.h"

int main(int argc, char** argv) {
    return rkt::run_main("stage1", [&] {
        rkt::parse_stage1_gc_args(argc, argv);
        return 0;
    });
}
