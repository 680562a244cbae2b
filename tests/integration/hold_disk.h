// HoldDisk: a lab LUN's backing file on lunfs_test_holdfs, a disk that keeps chosen writes in the
// target's backend (the target's worker is blocked in its write) until the test releases them.
// The constructor mounts it; the destructor performs whatever is still held, unmounts it and
// stops its daemon, in every outcome. Stop the lab that uses it first: declare the HoldDisk
// before the Lab.
#pragma once

#include <cstdint>
#include <string>

namespace lunfs::test {

class HoldDisk {
  public:
    // A disk of `size` bytes whose bytes live in DIR/store.img, served as DIR/disk/lun.img.
    HoldDisk(const std::string& dir, uint64_t size);
    ~HoldDisk();
    HoldDisk(const HoldDisk&) = delete;
    HoldDisk& operator=(const HoldDisk&) = delete;
    bool ok() const { return ok_; }
    const std::string& error() const { return error_; }

    std::string File() const { return dir_ + "/disk/lun.img"; }  // give this to the lab
    std::string Store() const { return dir_ + "/store.img"; }    // what the disk holds
    // The next `count` writes overlapping [offset, offset + length) are held.
    bool Hold(uint64_t offset, uint64_t length, int count = 1);
    bool Release();    // performs the held writes and answers them
    int Held() const;  // writes held now; -1 when the disk cannot be asked

  private:
    std::string dir_;
    int pid_ = 0;
    bool mounted_ = false;
    bool ok_ = false;
    std::string error_;
};

}  // namespace lunfs::test
