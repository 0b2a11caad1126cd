// The built-in VMM engine: the VM runs in this very process (the stage1 *is* the VMM), on its
// own threads; the protocol channel is one end of a socketpair, the other end the VMM's port.
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <optional>
#include <thread>

#include "common/error.h"
#include "common/fs.h"
#include "stage1-kvm/vm_engine.h"
#include "vmm/builder.h"

namespace rkt::kvm {

namespace {

class BuiltinEngine : public VmEngine {
public:
    ~BuiltinEngine() override {
        if (runner_.joinable()) {
            kill();
            runner_.join();
        }
    }

    std::string name() const override { return "the built-in VMM"; }

    UniqueFd start(const VmLaunch& launch) override {
        if (!launch.shares.empty())
            throw Error(
                "host volumes (kind=host) need virtio-9p, which the built-in VMM does not "
                "have yet; run this pod with --stage1=kvm-qemu");
        int pair[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
            throw system_error("cannot create the guest channel");
        UniqueFd host(pair[0]), guest(pair[1]);
        ended_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        if (!ended_) throw system_error("eventfd");

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
        c.protocol_port_fd = guest.get();  // duplicated by the VMM
        console_ =
            fs::open_file(launch.console_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
        c.console_output_fd = console_.get();
        vm_ = vmm::build_vm(c);
        runner_ = std::thread([this] {
            try {
                result_ = vm_.machine->run();
            } catch (const std::exception& e) {
                result_ = vmm::VmResult{{vmm::VmExitReason::kVmmError, e.what()}, {}};
            }
            uint64_t one = 1;
            [[maybe_unused]] auto n = ::write(ended_.get(), &one, sizeof one);
        });
        int flags = ::fcntl(host.get(), F_GETFL);
        ::fcntl(host.get(), F_SETFL, flags | O_NONBLOCK);
        return host;
    }

    int ended_fd() const override { return ended_.get(); }

    void kill() override {
        killed_ = true;
        if (vm_.machine)
            vm_.machine->request_stop({vmm::VmExitReason::kHostStop, "stopped by rkt"});
    }

    VmEnd finish() override {
        if (runner_.joinable()) runner_.join();
        VmEnd end;
        end.killed_by_us = killed_;
        if (result_) {
            end.clean = result_->exit.clean();
            end.description = std::string(vmm::to_string(result_->exit.reason));
            if (!result_->exit.message.empty()) end.description += ": " + result_->exit.message;
        } else {
            end.description = "the VM did not run";
        }
        vm_.machine.reset();
        return end;
    }

private:
    vmm::BuiltVm vm_;
    UniqueFd ended_;
    UniqueFd console_;
    std::thread runner_;
    std::optional<vmm::VmResult> result_;
    bool killed_ = false;
};

}  // namespace

std::unique_ptr<VmEngine> make_builtin_engine() {
    return std::make_unique<BuiltinEngine>();
}

}  // namespace rkt::kvm
