// LunFs: the file system lunfs mounts, as libfuse low-level operations.
//
//   /            directory, one regular file per LUN
//   /<name>      a LUN: size = capacity, read/write through its BlockDevice
//   /.lunfs/     read-only control files (daemon pid, statistics)
//
// Every request ends in exactly one fuse_reply_*: at once for metadata, and from the thread that
// completes the I/O for reads, writes, flush and fsync (libfuse replies are thread-safe). Handlers
// never wait for the network. A write's payload stays valid until its reply: a large one keeps
// the request buffer it arrived in (fuse/request_buffer.h), a small one is copied.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/block_device.h"

namespace lunfs {

struct LunFile {
    std::string name;  // file name in the mount root
    // Must accept any byte range (Alignment() == 1). Null for a LUN not there yet: its file
    // appears when Attach() gives it one.
    std::shared_ptr<BlockDevice> device;
    bool read_only = false;  // this file only; FsOptions::read_only covers all
};

struct ControlFile {
    std::string name;                     // file name in /.lunfs
    std::function<std::string()> render;  // its contents, rendered at open
    // When set, the file is writable: each write() is one command, and its Status is the
    // write's result (errno on failure; the message is logged).
    std::function<Status(std::string_view)> command;
};

struct FsOptions {
    bool read_only = false;
    uid_t uid = 0;  // owner of every file
    gid_t gid = 0;
    time_t mount_time = 0;  // shown as every file's times
};

class LunFs {
  public:
    LunFs(std::vector<LunFile> luns, std::vector<ControlFile> control, FsOptions options);

    // The operations table; pass `this` as the session's userdata. Every handler is guarded: an
    // exception escaping it is logged and its request answered EIO (unless a device already
    // owns the answer); it never unwinds into libfuse.
    static const fuse_lowlevel_ops& Ops();

    // Gives the file `name`, absent until now, its device: it appears in the mount. Once per
    // file; says whether there was such a file waiting.
    bool Attach(const std::string& name, std::shared_ptr<BlockDevice> device);

    // Requests handed to a device and not yet answered. The session must outlive them: a reply
    // to a destroyed session writes to freed memory.
    uint64_t InFlight() const;
    // Waits until none is in flight, or `limit`; says whether none is.
    bool WaitIdle(std::chrono::milliseconds limit);

    // Handlers, called through Ops().
    void Init(fuse_conn_info* conn);
    void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name);
    void GetAttr(fuse_req_t req, fuse_ino_t ino);
    void SetAttr(fuse_req_t req, fuse_ino_t ino, const struct stat* attr, int to_set);
    void ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off);
    void Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
    void Read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi);
    void Write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off,
               fuse_file_info* fi);
    void Flush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
    void Fsync(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
    void Fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length);
    void Release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
    void StatFs(fuse_req_t req);

  private:
    enum class Kind { kNone, kRoot, kControlDir, kControl, kLun };
    Kind KindOf(fuse_ino_t ino) const;
    bool Stat(fuse_ino_t ino, struct stat* st) const;
    void ReplyEntry(fuse_req_t req, fuse_ino_t ino);
    void SendFlush(fuse_req_t req, fuse_ino_t ino, const fuse_file_info* fi);
    BlockDevice& Lun(fuse_ino_t ino) const;
    bool ReadOnly(fuse_ino_t ino) const;  // a LUN file that takes no writes
    // Hands `io` (whose callback replies to `req`) to `dev`, counted in flight until answered.
    // When Submit throws before the device answered, `req` is answered EIO here; it is never
    // answered twice (the first answer wins), and the exception goes on to Guarded.
    void Hand(BlockDevice& dev, IoRequest io, fuse_req_t req);
    void Ended();

    bool Present(size_t lun) const { return present_[lun].load(std::memory_order_acquire); }

    // Fixed at construction, so that requests index it without a lock; a file without a device
    // is absent until Attach() sets its device, then its flag in present_ (which readers check
    // first).
    std::vector<LunFile> luns_;
    std::unique_ptr<std::atomic<bool>[]> present_;
    std::vector<ControlFile> control_;
    FsOptions options_;

    // Open control files: what each handle reads, as rendered at its open. Kept here rather than
    // behind the handle so that handles whose release never comes (the mount went away first)
    // are freed with the file system.
    std::mutex handles_mu_;
    std::map<uint64_t, std::shared_ptr<const std::string>> handles_;  // guarded by handles_mu_
    uint64_t next_handle_ = 1;                                        // guarded by handles_mu_

    // Counted without a lock on every request; idle_mu_ is taken only to wake a waiter.
    std::atomic<uint64_t> in_flight_{0};
    std::mutex idle_mu_;
    std::condition_variable idle_;

    // Open LUN files. fi->fh holds the open flags in its low 32 bits (flush and release get no
    // flags; static_cast<int>(fh) is them) and the handle's key here above them. Each handle
    // keeps the BlockDevice::WriteBackFailures() count it has been told of, sampled at open, so
    // that its flush and fsync report every write-back the LUN refused since (Linux's errseq).
    struct LunHandle {
        uint64_t failures_seen = 0;  // guarded by handles_mu_
    };
    uint64_t OpenLunHandle(fuse_ino_t ino, int flags);
    void CloseLunHandle(const fuse_file_info* fi);
    static int OpenFlags(const fuse_file_info* fi) { return static_cast<int>(fi->fh); }
    // The count a flush of this handle is measured against; the handle's sample moves on to
    // `now`, the count before the flush is sent (a refusal racing with the flush may be reported
    // twice, never missed). Read-only handles are told of nothing: `now`.
    uint64_t TakeFailuresSeen(const fuse_file_info* fi, uint64_t now);
    std::map<uint64_t, LunHandle> lun_handles_;  // guarded by handles_mu_
};

}  // namespace lunfs
