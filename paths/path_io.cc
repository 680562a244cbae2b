#include "paths/path_io.h"

namespace lunfs {

const char* CommandKindName(CommandKind kind) {
    switch (kind) {
        case CommandKind::kRead:
            return "READ(16)";
        case CommandKind::kWrite:
            return "WRITE(16)";
        case CommandKind::kSyncCache:
            return "SYNCHRONIZE CACHE(16)";
        case CommandKind::kTestUnitReady:
            return "TEST UNIT READY";
        case CommandKind::kUnmap:
            return "UNMAP";
        case CommandKind::kWriteSameUnmap:
            return "WRITE SAME(16) with UNMAP";
        case CommandKind::kReserveIn:
            return "PERSISTENT RESERVE IN";
        case CommandKind::kReserveOut:
            return "PERSISTENT RESERVE OUT";
        case CommandKind::kLunReset:
            return "LOGICAL UNIT RESET";
    }
    return "?";
}

const char* PathStateName(PathState state) {
    switch (state) {
        case PathState::kConnecting:
            return "connecting";
        case PathState::kUp:
            return "up";
        case PathState::kDown:
            return "down";
        case PathState::kClosed:
            return "closed";
    }
    return "?";
}

}  // namespace lunfs
