// rkt list
#include <iostream>

#include "common/error.h"
#include "common/log.h"
#include "common/strings.h"
#include "stage0/commands/commands.h"
#include "stage0/commands/json_output.h"
#include "stage0/commands/pod_info.h"
#include "stage0/table.h"

namespace rkt::commands {

void add_list(CLI::App& app, Context& ctx) {
    struct Opts {
        bool full = false;
        bool no_legend = false;
        std::string format;
    };
    auto o = std::make_shared<Opts>();
    auto* cmd = app.add_subcommand("list", "List pods");
    cmd->add_flag("--full", o->full, "use long output format");
    cmd->add_flag("--no-legend", o->no_legend, "suppress a legend with the list");
    cmd->add_option("--format", o->format, "output format: json or json-pretty");
    cmd->callback([&ctx, o] {
        log::set_prefix("list");
        check_json_format(o->format);
        auto pods = ctx.pods().list();
        std::sort(pods.begin(), pods.end(), [](const pod::Pod& a, const pod::Pod& b) {
            return a.created().value_or(pod::Clock::time_point{}) <
                   b.created().value_or(pod::Clock::time_point{});
        });
        if (!o->format.empty()) {
            nlohmann::json arr = nlohmann::json::array();
            for (const auto& p : pods) arr.push_back(pod_to_json(p));
            print_json(arr, o->format);
            return;
        }
        std::vector<std::string> header = {"UUID", "APP", "IMAGE NAME"};
        if (o->full) header.push_back("IMAGE ID");
        for (const char* h : {"STATE", "CREATED", "STARTED", "NETWORKS"}) header.push_back(h);
        Table table(header);
        auto now = pod::Clock::now();
        auto when = [&](std::optional<pod::Clock::time_point> t) -> std::string {
            if (!t) return "";
            return o->full ? strings::format_time(*t) : strings::human_age(*t, now);
        };
        for (const auto& p : pods) {
            auto m = p.manifest();
            std::vector<RuntimeApp> apps = m ? m->apps : std::vector<RuntimeApp>{};
            std::string uuid = o->full ? p.uuid() : p.uuid().substr(0, 8);
            for (size_t i = 0; i < std::max<size_t>(apps.size(), 1); ++i) {
                std::vector<std::string> row;
                bool first = i == 0;
                row.push_back(first ? uuid : "");
                row.push_back(apps.empty() ? "-" : apps[i].name);
                row.push_back(apps.empty() ? "-" : apps[i].image.name);
                if (o->full) row.push_back(apps.empty() ? "-" : apps[i].image.id.substr(0, 19));
                row.push_back(first ? pod::state_name(p.state()) : "");
                row.push_back(first ? when(p.created()) : "");
                row.push_back(first ? when(p.started()) : "");
                row.push_back(first ? pod_networks(p) : "");
                table.add_row(row);
            }
        }
        table.print(std::cout, !o->no_legend);
    });
}

}  // namespace rkt::commands
