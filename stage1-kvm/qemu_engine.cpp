// The QEMU engine: qemu-system-x86_64 -M microvm as a jailed child of this process
// (vmm/qemu/qemu_process.h), with the protocol channel on one end of a socketpair and the
// console and QEMU's messages on pipes this process copies into capped files.
#include <fcntl.h>
#include <sys/socket.h>

#include <chrono>

#include "common/error.h"
#include "common/fs.h"
#include "common/io.h"
#include "common/log.h"
#include "common/strings.h"
#include "stage1-kvm/log_pump.h"
#include "stage1-kvm/vm_engine.h"
#include "stage1-kvm/vmm_record.h"
#include "vmm/qemu/qemu_command.h"
#include "vmm/qemu/qemu_process.h"
#include "vmm/vmm_user.h"

namespace rkt::kvm {

namespace {

namespace q = vmm::qemu;

std::string last_line_of(const stdfs::path& file) {
    std::string text;
    try {
        text = fs::read_file_limited(file, 1 << 20);
    } catch (const Error&) {
        return "";
    }
    std::string t = strings::trim(text);
    auto nl = t.rfind('\n');
    return nl == std::string::npos ? t : t.substr(nl + 1);
}

std::string milliseconds_since(std::chrono::steady_clock::time_point t) {
    auto us =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t)
            .count();
    return std::to_string(us / 1000) + "." + std::to_string(us / 100 % 10) + " ms";
}

class QemuEngine : public VmEngine {
public:
    explicit QemuEngine(bool kvm_accel) : accel_(kvm_accel ? q::Accel::kKvm : q::Accel::kTcg) {}

    std::string name() const override {
        return accel_ == q::Accel::kKvm ? "QEMU (KVM)" : "QEMU (TCG)";
    }
    std::string log_file_name() const override { return "qemu.log"; }

    UniqueFd start(const VmLaunch& launch) override {
        int pair[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
            throw system_error("cannot create the guest channel");
        UniqueFd host(pair[0]), guest(pair[1]);
        q::QemuVmSpec spec;
        spec.accel = accel_;
        spec.kernel = (launch.stage1_dir / "bzImage").string();
        if (::access(spec.kernel.c_str(), R_OK) != 0)
            throw Error("the guest kernel is not built: " + spec.kernel +
                        " is missing (cmake --build build --target guest-kernel)");
        spec.initrd = launch.initramfs.string();
        spec.command_line = q::engine_kernel_arguments(accel_) + " " + launch.guest_arguments;
        spec.memory_mib = launch.size.memory_mib;
        spec.vcpus = launch.size.vcpus;
        for (const auto& d : launch.disks) spec.disks.push_back({d.image.string(), d.serial, true});
        for (const auto& s : launch.shares)
            spec.shares.push_back({s.tag, s.source.string(), s.read_only});
        for (const auto& n : launch.nics) spec.nics.push_back({n.tap_fd, n.mac});
        spec.protocol_fd = guest.get();
        spec.console_on_stdout = true;

        user_ = vmm::VmmUser::acquire();
        q::QemuJailOptions jail{launch.jail_dir, user_.uid(), user_.gid(),
                                "RKT_POD_DIR=" + launch.pod_dir.string()};
        q::QemuLaunchPlan plan = q::plan_qemu_launch(spec, jail);
        log_path_ = launch.engine_log;
        io::Pipe console = io::make_pipe(), messages = io::make_pipe();
        pump_.add(std::move(console.read), CappedLog::open(launch.console_log, launch.log_limit));
        pump_.add(std::move(messages.read), CappedLog::open(log_path_, launch.log_limit));
        log::debug("QEMU (uid " + std::to_string(user_.uid()) +
                   "): " + strings::join(q::qemu_argv(plan.spec), " "));
        auto jailing = std::chrono::steady_clock::now();
        process_ = q::start_qemu(plan, {console.write.get(), messages.write.get()});
        log::debug("QEMU jailed and executing after " + milliseconds_since(jailing));
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
        pump_.finish();  // QEMU is gone: the console and its messages are complete
        VmEnd end;
        end.killed_by_us = killed_;
        end.clean = code == 0;
        if (code == 0) {
            end.description = "QEMU exited";
        } else if (code > 128) {
            end.description = "QEMU was killed by signal " + std::to_string(code - 128);
        } else {
            end.description = "QEMU exited with status " + std::to_string(code);
            std::string last = last_line_of(log_path_);
            if (!last.empty()) end.description += ": " + last;
        }
        return end;
    }

private:
    q::Accel accel_;
    vmm::VmmUser user_;
    LogPump pump_;
    vmm::VmmProcess process_;
    stdfs::path log_path_;
    bool killed_ = false;
};

}  // namespace

std::unique_ptr<VmEngine> make_qemu_engine(bool kvm_accel) {
    return std::make_unique<QemuEngine>(kvm_accel);
}

}  // namespace rkt::kvm
