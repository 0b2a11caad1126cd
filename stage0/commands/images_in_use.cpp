#include "stage0/commands/images_in_use.h"

namespace rkt::commands {

std::map<std::string, std::string> images_in_use(Context& ctx) {
    std::map<std::string, std::string> out;
    for (const auto& p : ctx.pods().list()) {
        if (p.state_dir() == pod::StateDir::kGarbage) continue;
        if (auto m = p.manifest())
            for (const auto& a : m->apps) out.emplace(a.image.id, p.uuid());
    }
    return out;
}

}  // namespace rkt::commands
