// `lunfs status` and `lunfs path`: talk to a running mount through its control files.
#pragma once

#include <string>

namespace lunfs {

struct StatusCommandOptions {
    std::string mountpoint;
    bool json = false;
    bool watch = false;       // redraw every interval until q, Ctrl-C or `count` frames
    double interval_s = 1.0;  // between redraws
    int count = 0;            // frames before --watch exits; 0 for no limit
};

// Prints each LUN and its paths (a table, JSON, or a live view). Returns the exit code.
int RunStatus(const StatusCommandOptions& options);

// verb is "add" or "remove": adds or removes a path of the LUN file `file` at runtime.
int RunPathCommand(const std::string& verb, const std::string& mountpoint, const std::string& file,
                   const std::string& url);

}  // namespace lunfs
