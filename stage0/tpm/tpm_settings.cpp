#include "stage0/tpm/tpm_settings.h"

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fs.h"
#include "common/strings.h"

namespace rkt::tpm {

namespace {

void apply_file(TpmSettings& s, const std::filesystem::path& file) {
    with_context("bad TPM settings file " + file.string(), [&] {
        auto j = nlohmann::json::parse(fs::read_file_limited(file, 64 << 10), nullptr, false);
        if (j.is_discarded() || !j.is_object()) throw Error("not a JSON object");
        if (j.value("rktKind", "") != "tpm") return;  // other kinds are not ours
        if (j.value("rktVersion", "") != "v1") throw Error("rktVersion must be \"v1\"");
        try {
            if (j.contains("mode")) s.mode = parse_tpm_mode(j["mode"].get<std::string>());
            if (j.contains("tcti")) s.tcti = j["tcti"].get<std::string>();
            if (j.contains("pcr")) {
                auto pcr = j["pcr"].get<int64_t>();
                if (pcr < 0 || pcr > 23) throw Error("\"pcr\" must be 0-23");
                s.pcr = static_cast<unsigned>(pcr);
            }
            if (j.contains("timeout")) {
                auto d = strings::parse_duration(j["timeout"].get<std::string>());
                if (!d || d->count() <= 0 || *d > std::chrono::minutes(10))
                    throw Error("\"timeout\" must be a duration such as \"10s\", at most 10m");
                s.timeout = *d;
            }
        } catch (const nlohmann::json::exception& e) {
            throw Error(std::string("mistyped field: ") + e.what());
        }
    });
}

}  // namespace

TpmMode parse_tpm_mode(const std::string& text) {
    if (text == "off") return TpmMode::kOff;
    if (text == "auto") return TpmMode::kAuto;
    if (text == "required") return TpmMode::kRequired;
    throw Error("unknown TPM mode '" + strings::printable(text, 40) +
                "': use off, auto or required");
}

std::string tpm_mode_name(TpmMode mode) {
    switch (mode) {
        case TpmMode::kOff:
            return "off";
        case TpmMode::kAuto:
            return "auto";
        case TpmMode::kRequired:
            return "required";
    }
    return "auto";
}

TpmSettings load_tpm_settings(const std::filesystem::path& system_config,
                              const std::filesystem::path& local_config,
                              const std::string& mode_flag, const std::string& tcti_flag) {
    TpmSettings s;
    for (const auto& dir : {system_config, local_config})
        for (const auto& f : fs::json_files(dir / "tpm.d")) apply_file(s, f);
    if (!mode_flag.empty())
        s.mode = with_context("--tpm", [&] { return parse_tpm_mode(mode_flag); });
    if (!tcti_flag.empty()) s.tcti = tcti_flag;
    return s;
}

std::string effective_tcti(const TpmSettings& s) {
    if (!s.tcti.empty()) return s.tcti;
    std::error_code ec;
    for (const char* dev : {"/dev/tpmrm0", "/dev/tpm0"})
        if (std::filesystem::exists(dev, ec)) return std::string("device:") + dev;
    return "";
}

}  // namespace rkt::tpm
