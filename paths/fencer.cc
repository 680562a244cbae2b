#include "paths/fencer.h"

namespace lunfs {

const char* FenceModeName(FenceMode mode) {
    switch (mode) {
        case FenceMode::kTimed:
            return "timed";
        case FenceMode::kReset:
            return "reset";
        case FenceMode::kReservation:
            return "reservation";
    }
    return "?";
}

}  // namespace lunfs
