#include "vmm/qemu/qemu_accel.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fs.h"
#include "common/process.h"
#include "common/strings.h"
#include "common/unique_fd.h"

namespace rkt::vmm::qemu {

namespace {

constexpr size_t kRomSize = 64 * 1024;
// Real mode at the reset vector: mov al, 1; out 0xf4, al; then halt forever. The isa-debug-exit
// device makes QEMU exit with (1 << 1) | 1 = 3.
constexpr unsigned char kResetVectorCode[] = {0xb0, 0x01, 0xe6, 0xf4, 0xf4, 0xeb, 0xfd};
constexpr int kDebugExitStatus = 3;

std::string cache_key(const AccelOptions& o) {
    std::string boot_id =
        strings::trim(fs::read_file_if_exists("/proc/sys/kernel/random/boot_id").value_or(""));
    utsname u{};
    ::uname(&u);
    std::string qemu = find_executable(o.qemu_binary).value_or(o.qemu_binary);
    struct stat st {};
    ::stat(qemu.c_str(), &st);
    return boot_id + "/" + u.release + "/" + o.kvm_device + "/" + qemu + "/" +
           std::to_string(st.st_size) + "/" + std::to_string(st.st_mtime) + "/" +
           (o.host_kvm.usable ? "usable" : "unusable");
}

std::optional<AccelChoice> read_cache(const std::filesystem::path& file, const std::string& key) {
    try {
        auto text = fs::read_file_if_exists(file);
        if (!text) return std::nullopt;
        auto j = nlohmann::json::parse(*text);
        if (j.at("key").get<std::string>() != key) return std::nullopt;
        std::string accel = j.at("accel").get<std::string>();
        if (accel != "kvm" && accel != "tcg") return std::nullopt;
        return AccelChoice{accel == "kvm" ? Accel::kKvm : Accel::kTcg,
                           j.at("reason").get<std::string>()};
    } catch (const std::exception&) {
        return std::nullopt;  // unreadable or another format: decide again
    }
}

void write_cache(const std::filesystem::path& dir, const std::string& key,
                 const AccelChoice& choice) {
    try {
        fs::make_dirs(dir, 0755);
        nlohmann::json j{{"key", key},
                         {"accel", choice.accel == Accel::kKvm ? "kvm" : "tcg"},
                         {"reason", choice.reason}};
        fs::write_file_atomic(dir / "qemu-accel.json", j.dump() + "\n", 0644);
    } catch (const std::exception&) {
        // Only an optimisation.
    }
}

std::string last_line(const std::string& text) {
    std::string t = strings::trim(text);
    auto nl = t.rfind('\n');
    return nl == std::string::npos ? t : t.substr(nl + 1);
}

AccelChoice decide(const AccelOptions& o) {
    if (::access(o.kvm_device.c_str(), R_OK | W_OK) != 0)
        return {Accel::kTcg, "this host has no usable " + o.kvm_device};
    // QEMU's KVM runs the same unmodified kernel the built-in VMM would: if this host's KVM
    // cannot (kvm_pvm), QEMU would crawl through the same emulator.
    if (!o.host_kvm.usable) return {Accel::kTcg, o.host_kvm.reason};
    std::string error;
    if (!qemu_kvm_starts(o.qemu_binary, error))
        return {Accel::kTcg, "QEMU cannot use KVM here (" + error + ")"};
    return {Accel::kKvm, ""};
}

}  // namespace

bool qemu_kvm_starts(const std::string& qemu_binary, std::string& error) {
    UniqueFd rom(::memfd_create("rkt-qemu-probe-rom", MFD_CLOEXEC));
    if (!rom) {
        error = "memfd_create failed";
        return false;
    }
    std::string image(kRomSize, static_cast<char>(0xf4));  // hlt everywhere
    std::copy(std::begin(kResetVectorCode), std::end(kResetVectorCode),
              image.begin() + (kRomSize - 16));
    if (::write(rom.get(), image.data(), image.size()) != static_cast<ssize_t>(image.size())) {
        error = "cannot write the probe firmware";
        return false;
    }
    // QEMU opens the firmware through this process's descriptor.
    std::string rom_path =
        "/proc/" + std::to_string(::getpid()) + "/fd/" + std::to_string(rom.get());
    SpawnOptions opts;
    opts.capture_stdout = true;
    opts.capture_stderr = true;
    ChildProcess child = ChildProcess::spawn({qemu_binary,
                                              "-M",
                                              "microvm,acpi=off",
                                              "-accel",
                                              "kvm",
                                              "-cpu",
                                              "host",
                                              "-m",
                                              "16",
                                              "-nodefaults",
                                              "-no-user-config",
                                              "-no-reboot",
                                              "-display",
                                              "none",
                                              "-monitor",
                                              "none",
                                              "-serial",
                                              "none",
                                              "-bios",
                                              rom_path,
                                              "-device",
                                              "isa-debug-exit,iobase=0xf4,iosize=4"},
                                             opts);
    auto code = child.wait_for(std::chrono::seconds(10));
    if (!code) {
        child.kill(SIGKILL);
        child.wait();
        error = "a test vCPU did not run within 10 s";
        return false;
    }
    if (*code == kDebugExitStatus) return true;
    error = last_line(child.output());
    if (error.empty()) error = "QEMU exited with status " + std::to_string(*code);
    return false;
}

AccelChoice choose_accel(const AccelOptions& options) {
    if (!options.cache_dir) return decide(options);
    std::string key = cache_key(options);
    if (auto cached = read_cache(*options.cache_dir / "qemu-accel.json", key)) return *cached;
    AccelChoice choice = decide(options);
    write_cache(*options.cache_dir, key, choice);
    return choice;
}

}  // namespace rkt::vmm::qemu
