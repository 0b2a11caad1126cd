// The built-in VMM engine: the VM runs in a child of this process (vmm/vmm_process.h), which
// builds it while still privileged (it opens /dev/kvm, the kernel, the initramfs and the disks),
// then enters its jail — an empty, read-only root, namespaces of its own, the pod's VMM user,
// no capability, no_new_privs, rkt's seccomp deny filter — and only then runs guest code, on
// threads that each add their own allow-list (vmm/sandbox.h). The protocol channel is one end
// of a socketpair; the console (hvc0) and the VMM's messages come back on pipes; how the VM
// ended comes back on a third pipe.
#include <fcntl.h>
#include <sys/socket.h>

#include <chrono>
#include <optional>

#include "common/error.h"
#include "common/fs.h"
#include "common/io.h"
#include "common/log.h"
#include "common/strings.h"
#include "stage1-kvm/log_pump.h"
#include "stage1-kvm/vm_engine.h"
#include "stage1-kvm/vmm_record.h"
#include "vmm/builder.h"
#include "vmm/jail.h"
#include "vmm/vmm_process.h"
#include "vmm/vmm_user.h"

namespace rkt::kvm {

namespace {

// The VMM process's descriptors.
constexpr int kProtocolFd = 3;
constexpr int kConsoleFd = 4;
constexpr int kResultFd = 5;
constexpr int kFirstTapFd = 6;  // then 7, 8, ...: one per NIC
constexpr size_t kMaxResult = 4096;

// How the VM ended, as the VMM process tells it: "<clean 0|1>\t<reason>\t<message>".
std::string encode_result(const vmm::VmResult& r) {
    std::string message = r.exit.message;
    for (char& c : message)
        if (c == '\n' || c == '\t') c = ' ';
    return std::string(r.exit.clean() ? "1" : "0") + "\t" + vmm::to_string(r.exit.reason) + "\t" +
           message.substr(0, 1024) + "\n";
}

class BuiltinEngine : public VmEngine {
public:
    std::string name() const override { return "the built-in VMM"; }
    std::string log_file_name() const override { return "vmm.log"; }

    UniqueFd start(const VmLaunch& launch) override {
        if (!launch.shares.empty())
            throw Error(
                "host volumes (kind=host) need virtio-9p, which the built-in VMM does not "
                "have yet; run this pod with --stage1=kvm-qemu");
        int pair[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
            throw system_error("cannot create the guest channel");
        UniqueFd host(pair[0]), guest(pair[1]);

        vmm::VmConfig c;
        std::error_code ec;
        stdfs::path vmlinux = launch.stage1_dir / "vmlinux";
        c.kernel_path = stdfs::exists(vmlinux, ec) ? vmlinux.string()
                                                   : (launch.stage1_dir / "bzImage").string();
        if (::access(c.kernel_path.c_str(), R_OK) != 0)
            throw Error("the guest kernel is not built: " + c.kernel_path +
                        " is missing (cmake --build build --target guest-kernel)");
        c.initrd_path = launch.initramfs.string();
        c.command_line_extra = launch.guest_arguments;
        c.memory_mib = launch.size.memory_mib;
        c.vcpus = launch.size.vcpus;
        for (const auto& d : launch.disks) c.disks.push_back({d.image.string(), true, d.serial});
        // The VMM process's own descriptor numbers.
        c.protocol_port_fd = kProtocolFd;
        c.console_output_fd = kConsoleFd;
        // The taps stay open here (the caller's) until the VM ends; the VMM keeps its copies.
        for (size_t i = 0; i < launch.nics.size(); ++i)
            c.nics.push_back({kFirstTapFd + static_cast<int>(i), launch.nics[i].mac});

        user_ = vmm::VmmUser::acquire();
        vmm::JailSpec spec;
        spec.mount_point = launch.jail_dir;
        spec.uid = user_.uid();
        spec.gid = user_.gid();
        spec.max_file_size = 0;  // it writes to no file, only to its pipes
        vmm::PreparedJail jail = vmm::PreparedJail::prepare(spec);

        log_path_ = launch.engine_log;
        io::Pipe console = io::make_pipe(), messages = io::make_pipe(), result = io::make_pipe();
        pump_.add(std::move(console.read), CappedLog::open(launch.console_log, launch.log_limit));
        pump_.add(std::move(messages.read), CappedLog::open(log_path_, launch.log_limit));
        result_ = std::move(result.read);

        // Both run in the child; `vm` lives in its copy of this frame.
        vmm::BuiltVm vm;
        auto build = [&] { vm = vmm::build_vm(c); };
        auto run = [&] {
            vmm::VmResult r;
            try {
                r = vm.machine->run();
            } catch (const std::exception& e) {
                r = vmm::VmResult{{vmm::VmExitReason::kVmmError, e.what()}, {}};
            }
            (void)io::try_write_all(kResultFd, encode_result(r));
            return r.exit.clean() ? 0 : 1;
        };
        auto started = std::chrono::steady_clock::now();
        std::vector<vmm::VmmFd> fds = {{guest.get(), kProtocolFd},
                                       {console.write.get(), kConsoleFd},
                                       {result.write.get(), kResultFd}};
        for (size_t i = 0; i < launch.nics.size(); ++i)
            fds.push_back({launch.nics[i].tap_fd, c.nics[i].tap_fd});
        process_ = vmm::VmmProcess::run(jail, fds, {-1, messages.write.get()}, build, run);
        log::debug("the built-in VMM's process built its VM and was jailed in " +
                   std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      std::chrono::steady_clock::now() - started)
                                      .count()) +
                   " ms");
        pump_.start();
        write_vmm_record(launch.pod_dir, record_of(process_.pid()));
        int flags = ::fcntl(host.get(), F_GETFL);
        ::fcntl(host.get(), F_SETFL, flags | O_NONBLOCK);
        return host;
    }

    int ended_fd() const override { return process_.exit_fd(); }

    void kill() override {
        killed_ = true;
        process_.kill();
    }

    VmEnd finish() override {
        int code = process_.kill_and_wait();
        pump_.finish();
        VmEnd end;
        end.killed_by_us = killed_;
        std::string text;
        char buf[kMaxResult];
        ssize_t n = io::read_some(result_.get(), buf, sizeof buf);
        if (n > 0) text.assign(buf, static_cast<size_t>(n));
        auto fields = strings::split(strings::trim(text), '\t');
        if (fields.size() >= 2 && (fields[0] == "0" || fields[0] == "1")) {
            end.clean = fields[0] == "1";
            end.description = fields[1];
            if (fields.size() >= 3 && !fields[2].empty()) end.description += ": " + fields[2];
        } else if (code > 128) {
            end.description = "the built-in VMM was killed by signal " + std::to_string(code - 128);
        } else {
            end.description = "the built-in VMM exited with status " + std::to_string(code);
        }
        return end;
    }

private:
    vmm::VmmUser user_;
    LogPump pump_;
    UniqueFd result_;
    vmm::VmmProcess process_;
    stdfs::path log_path_;
    bool killed_ = false;
};

}  // namespace

std::unique_ptr<VmEngine> make_builtin_engine() {
    return std::make_unique<BuiltinEngine>();
}

}  // namespace rkt::kvm
