#include "stage1-kvm/vmm_record.h"

#include <nlohmann/json.hpp>
#include <sstream>

#include "common/error.h"
#include "common/fs.h"
#include "common/strings.h"

namespace rkt::kvm {

namespace {

struct Observed {
    uint64_t start_time = 0;
    uint32_t uid = 0;
};

std::optional<Observed> observe(pid_t pid) {
    std::string dir = "/proc/" + std::to_string(pid);
    std::optional<std::string> stat, status;
    try {
        stat = fs::read_file_if_exists(dir + "/stat");
        status = fs::read_file_if_exists(dir + "/status");
    } catch (const Error&) {
        return std::nullopt;
    }
    if (!stat || !status) return std::nullopt;
    // The name in parentheses may hold anything: count fields after its last ')'.
    auto close = stat->rfind(')');
    if (close == std::string::npos) return std::nullopt;
    std::istringstream fields(stat->substr(close + 1));
    std::string field;
    Observed o;
    for (int i = 3; i <= 22 && fields >> field; ++i)  // starttime is field 22
        if (i == 22 && strings::is_decimal(field)) o.start_time = std::stoull(field);
    if (o.start_time == 0) return std::nullopt;
    std::istringstream lines(*status);
    std::string text;
    while (std::getline(lines, text)) {
        if (text.rfind("Uid:", 0) != 0) continue;
        std::istringstream ids(text.substr(4));
        std::string real;
        ids >> real;
        if (!strings::is_decimal(real)) return std::nullopt;
        o.uid = static_cast<uint32_t>(std::stoul(real));
        return o;
    }
    return std::nullopt;
}

}  // namespace

VmmRecord record_of(pid_t pid) {
    auto o = observe(pid);
    if (!o) throw Error("the VMM process " + std::to_string(pid) + " is gone");
    return {pid, o->start_time, o->uid};
}

void write_vmm_record(const std::filesystem::path& pod_dir, const VmmRecord& record) {
    nlohmann::json j{{"pid", record.pid}, {"startTime", record.start_time}, {"uid", record.uid}};
    fs::write_file_atomic(pod_dir / kVmmRecordName, j.dump() + "\n", 0600);
}

std::optional<VmmRecord> read_vmm_record(const std::filesystem::path& pod_dir) {
    try {
        auto text = fs::read_file_if_exists(pod_dir / kVmmRecordName);
        if (!text) return std::nullopt;
        auto j = nlohmann::json::parse(*text);
        VmmRecord r;
        r.pid = j.at("pid").get<pid_t>();
        r.start_time = j.at("startTime").get<uint64_t>();
        r.uid = j.at("uid").get<uint32_t>();
        if (r.pid <= 1) return std::nullopt;
        return r;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

bool is_running(const VmmRecord& record) {
    auto o = observe(record.pid);
    return o && o->start_time == record.start_time && o->uid == record.uid;
}

}  // namespace rkt::kvm
