#include "tests/integration/capture.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/integration/harness.h"

namespace lunfs::test {

namespace {

std::vector<std::string> Split(const std::string& s, const std::string& separators) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : s) {
        if (separators.find(c) != std::string::npos) {
            if (!cur.empty()) out.push_back(cur);
            cur.clear();
        } else {
            cur.push_back(c);
        }
    }
    if (!cur.empty()) out.push_back(cur);
    return out;
}

uint32_t Hex(const std::string& s) { return static_cast<uint32_t>(std::stoul(s, nullptr, 16)); }

}  // namespace

IscsiCapture::IscsiCapture(const std::string& dir, const std::vector<int>& ports)
    : dir_(dir), ports_(ports) {
    std::string filter;
    for (int p : ports)
        filter += (filter.empty() ? "" : " or ") + ("tcp port " + std::to_string(p));
    const std::string log = dir + "/tshark.log";
    const std::string file = dir + "/capture.pcapng";
    pid_ = fork();
    if (pid_ == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);  // a killed test leaves no capture running
        const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        // A large kernel buffer: the capture must not miss a segment of a big write.
        execlp("tshark", "tshark", "-i", "lo", "-B", "256", "-f", filter.c_str(), "-w",
               file.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    if (pid_ < 0) {
        error_ = "fork failed";
        return;
    }
    for (int i = 0; i < 200; ++i) {
        std::ifstream in(log);
        std::stringstream s;
        s << in.rdbuf();
        if (s.str().find("Capture started") != std::string::npos) {
            std::this_thread::sleep_for(std::chrono::milliseconds(300));  // dumpcap settles
            return;
        }
        if (waitpid(pid_, nullptr, WNOHANG) == pid_) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    error_ = "tshark did not start capturing";
    Stop();
    pid_ = -1;
}

IscsiCapture::~IscsiCapture() {
    if (pid_ > 0) {
        kill(pid_, SIGINT);
        waitpid(pid_, nullptr, 0);
    }
}

std::vector<IscsiPdu> IscsiCapture::Stop() {
    if (pid_ > 0) {
        // What the kernel still holds for the capture must reach its file before it stops.
        std::this_thread::sleep_for(std::chrono::milliseconds(700));
        kill(pid_, SIGINT);
        waitpid(pid_, nullptr, 0);
        pid_ = 0;
    }
    const std::string decode = Decoder();
    CommandResult lost = Shell(decode +
                               " -Y 'tcp.analysis.lost_segment' -T fields -e frame.number"
                               " 2>/dev/null | wc -l");
    if (std::atoi(lost.output.c_str()) != 0) {
        error_ = "the capture missed segments: " + lost.output;
        return {};
    }
    CommandResult r = Shell(decode +
                            " -Y iscsi -T fields -e frame.number -e tcp.stream -e iscsi.opcode"
                            " -e iscsi.initiatortasktag -e scsi_sbc.opcode -e scsi_sbc.fua"
                            " -E occurrence=a"
                            " -E aggregator=/ 2>/dev/null");
    std::vector<IscsiPdu> out;
    std::istringstream lines(r.output);
    std::string line;
    while (std::getline(lines, line)) {
        const std::vector<std::string> f = Split(line, "\t");
        if (f.size() < 4) continue;
        const std::vector<std::string> ops = Split(f[2], "/,");
        const std::vector<std::string> itts = Split(f[3], "/,");
        const std::vector<std::string> cdbs =
            f.size() > 4 ? Split(f[4], "/\\,") : std::vector<std::string>{};
        if (ops.size() != itts.size()) {
            error_ = "cannot attribute frame " + f[0] + ": " + line;
            return {};
        }
        int commands = 0;
        for (const std::string& op : ops) commands += Hex(op) == 0x01;
        if (commands > 1) {
            error_ = "frame " + f[0] + " holds several SCSI commands: " + line;
            return {};
        }
        for (size_t i = 0; i < ops.size(); ++i) {
            IscsiPdu pdu;
            pdu.frame = std::atoi(f[0].c_str());
            pdu.stream = std::atoi(f[1].c_str());
            pdu.opcode = static_cast<uint8_t>(Hex(ops[i]));
            pdu.itt = Hex(itts[i]);
            if (pdu.opcode == 0x01 && !cdbs.empty())
                pdu.cdb_opcode = static_cast<int>(Hex(cdbs[0]));
            if (pdu.opcode == 0x01 && f.size() > 5)
                pdu.fua = f[5].find("1") == 0 || f[5].find("True") == 0;
            out.push_back(pdu);
        }
    }
    return out;
}

std::vector<int> IscsiCapture::SegmentsTo(int port) const {
    const CommandResult r = Shell(Decoder() + " -Y 'tcp.dstport==" + std::to_string(port) +
                                  " && tcp.len>0' -T fields -e tcp.len 2>/dev/null");
    std::vector<int> out;
    for (const std::string& len : Split(r.output, "\n")) out.push_back(std::atoi(len.c_str()));
    return out;
}

std::string IscsiCapture::Decoder() const {
    std::string decode = "tshark -r " + dir_ + "/capture.pcapng -o iscsi.bogus_pdu_filter:FALSE";
    for (int p : ports_) decode += " -d tcp.port==" + std::to_string(p) + ",iscsi";
    return decode;
}

}  // namespace lunfs::test
