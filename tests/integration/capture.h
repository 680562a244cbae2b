// IscsiCapture: what crossed the wire between lunfs and a lab target, seen by tshark on the lab's
// ports (an observer independent of lunfs's own counters).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace lunfs::test {

// One iSCSI PDU, in capture order.
struct IscsiPdu {
    int frame = 0;
    int stream = 0;       // the TCP connection (one per path)
    uint8_t opcode = 0;   // 0x01 SCSI command, 0x21 SCSI response, ...
    uint32_t itt = 0;     // initiator task tag
    int cdb_opcode = -1;  // SCSI commands: the CDB's operation code (0x8a WRITE(16), ...)
    bool fua = false;     // SCSI commands: the CDB's FUA bit (reads and writes)
};

class IscsiCapture {
  public:
    // Starts tshark on lo for `ports` and waits until it captures. `dir` holds its files.
    IscsiCapture(const std::string& dir, const std::vector<int>& ports);
    ~IscsiCapture();  // stops tshark if still running
    IscsiCapture(const IscsiCapture&) = delete;
    IscsiCapture& operator=(const IscsiCapture&) = delete;
    bool ok() const { return pid_ > 0; }
    const std::string& error() const { return error_; }

    // Stops the capture and decodes it. `error()` says what went wrong when it cannot: a packet
    // the capture missed, or a frame it cannot attribute.
    std::vector<IscsiPdu> Stop();
    // After Stop(): the TCP payload size of every segment sent to `port`, in capture order.
    std::vector<int> SegmentsTo(int port) const;

  private:
    std::string Decoder() const;  // the tshark command line that reads the capture as iSCSI
    std::string dir_;
    std::vector<int> ports_;
    pid_t pid_ = -1;
    std::string error_;
};

}  // namespace lunfs::test
