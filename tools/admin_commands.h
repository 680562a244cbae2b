// `lunfs status` and `lunfs path`: talk to a running mount through its control files.
#pragma once

#include <string>

namespace lunfs {

// Prints each LUN and its paths (a table, or the raw JSON with `json`). Returns the exit code.
int RunStatus(const std::string& mountpoint, bool json);

// verb is "add" or "remove": adds or removes a path of the LUN file `file` at runtime.
int RunPathCommand(const std::string& verb, const std::string& mountpoint, const std::string& file,
                   const std::string& url);

}  // namespace lunfs
