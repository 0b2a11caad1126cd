#include "stage0/commands/pod_args.h"

#include "common/error.h"

namespace rkt::commands {

std::vector<pod::Pod> resolve_pods(Context& ctx, const std::vector<std::string>& uuids,
                                   const std::string& uuid_file) {
    if (!uuid_file.empty() && !uuids.empty())
        throw Error("give either UUIDs or --uuid-file, not both");
    std::vector<pod::Pod> out;
    if (!uuid_file.empty()) {
        out.push_back(ctx.pods().resolve(pod::read_uuid_file(uuid_file)));
        return out;
    }
    if (uuids.empty()) throw Error("give the UUID of a pod (or --uuid-file=FILE)");
    for (const auto& u : uuids) out.push_back(ctx.pods().resolve(u));
    return out;
}

}  // namespace rkt::commands
