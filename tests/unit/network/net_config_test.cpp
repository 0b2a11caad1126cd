#include "network/net_config.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "common/fs.h"
#include "test_support.h"

namespace rkt::net {
namespace {

using nlohmann::json;
using test::TempDir;

class NetConfig : public ::testing::Test {
protected:
    ConfigSources sources() const { return {dir_ / "local", dir_ / "system", dir_ / "ipam"}; }
    void write(const std::string& where, const std::string& file, const std::string& text) {
        fs::make_dirs(dir_ / where / "net.d");
        fs::write_file(dir_ / where / "net.d" / file, text);
    }
    std::string load_error() {
        try {
            load_network_configs(sources());
        } catch (const Error& e) {
            return e.what();
        }
        return "";
    }
    TempDir dir_;
};

TEST_F(NetConfig, BuiltinsWithoutFiles) {
    auto configs = load_network_configs(sources());
    ASSERT_EQ(configs.size(), 2u);
    const auto& d = configs.at("default");
    EXPECT_EQ(d.source, "built-in");
    EXPECT_TRUE(d.ip_masq);
    EXPECT_EQ(d.list["cniVersion"], "1.0.0");
    EXPECT_EQ(d.list["name"], "default");
    ASSERT_EQ(d.list["plugins"].size(), 1u);
    const json& ptp = d.list["plugins"][0];
    EXPECT_EQ(ptp["type"], "ptp");
    EXPECT_FALSE(ptp.contains("mtu"));
    EXPECT_FALSE(ptp.contains("name"));
    EXPECT_EQ(ptp["ipam"]["subnet"], "172.16.28.0/24");
    EXPECT_EQ(ptp["ipam"]["routes"], json::parse(R"([{"dst":"0.0.0.0/0"}])"));
    EXPECT_EQ(ptp["ipam"]["dataDir"], (dir_ / "ipam").string());

    const auto& r = configs.at("default-restricted");
    EXPECT_FALSE(r.ip_masq);
    EXPECT_EQ(r.list["plugins"][0]["ipMasq"], false);
    EXPECT_EQ(r.list["plugins"][0]["ipam"]["subnet"], "172.31.0.0/16");
    EXPECT_FALSE(r.list["plugins"][0]["ipam"].contains("routes"));
    EXPECT_THROW(builtin_network("other", ""), Error);
}

TEST_F(NetConfig, ConfIsWrappedIntoAList) {
    write("local", "10-a.conf",
          R"({"cniVersion":"0.4.0","name":"a","type":"bridge","ipMasq":true,
              "ipam":{"type":"host-local","subnet":"10.9.0.0/16","dataDir":"/own"}})");
    auto configs = load_network_configs(sources());
    const auto& a = configs.at("a");
    EXPECT_EQ(a.source, (dir_ / "local/net.d/10-a.conf").string());
    EXPECT_TRUE(a.ip_masq);
    EXPECT_EQ(a.list["cniVersion"], "0.4.0");
    ASSERT_EQ(a.list["plugins"].size(), 1u);
    EXPECT_EQ(a.list["plugins"][0]["type"], "bridge");
    EXPECT_FALSE(a.list["plugins"][0].contains("name"));
    EXPECT_FALSE(a.list["plugins"][0].contains("cniVersion"));
    EXPECT_EQ(a.list["plugins"][0]["ipam"]["dataDir"], "/own");  // its own is kept
}

TEST_F(NetConfig, ConflistKeepsItsChainAndGetsTheIpamDir) {
    write("system", "b.conflist",
          R"({"cniVersion":"1.0.0","name":"b","plugins":[
              {"type":"ptp","ipam":{"type":"host-local","subnet":"10.8.0.0/24"}},
              {"type":"portmap","capabilities":{"portMappings":true}}]})");
    auto b = load_network_configs(sources()).at("b");
    EXPECT_FALSE(b.ip_masq);
    ASSERT_EQ(b.list["plugins"].size(), 2u);
    EXPECT_EQ(b.list["plugins"][0]["ipam"]["dataDir"], (dir_ / "ipam").string());
    EXPECT_EQ(b.list["plugins"][1]["type"], "portmap");
}

TEST_F(NetConfig, MissingVersionGetsOne) {
    write("local", "c.json", R"({"name":"c","type":"ptp"})");
    EXPECT_EQ(load_network_configs(sources()).at("c").list["cniVersion"], "1.0.0");
}

TEST_F(NetConfig, LocalOverridesSystemAndBuiltin) {
    write("system", "x.conf", R"({"cniVersion":"1.0.0","name":"x","type":"bridge"})");
    write("local", "x.conf", R"({"cniVersion":"1.0.0","name":"x","type":"macvlan"})");
    write("local", "def.conf", R"({"cniVersion":"1.0.0","name":"default","type":"bridge"})");
    auto configs = load_network_configs(sources());
    EXPECT_EQ(configs.at("x").list["plugins"][0]["type"], "macvlan");
    EXPECT_EQ(configs.at("default").list["plugins"][0]["type"], "bridge");
    EXPECT_EQ(configs.at("default").source, (dir_ / "local/net.d/def.conf").string());
    EXPECT_FALSE(configs.at("default").ip_masq);
}

TEST_F(NetConfig, LaterFileOfADirectoryWins) {
    write("local", "10-y.conf", R"({"name":"y","type":"bridge"})");
    write("local", "20-y.conf", R"({"name":"y","type":"ipvlan"})");
    EXPECT_EQ(load_network_configs(sources()).at("y").list["plugins"][0]["type"], "ipvlan");
}

TEST_F(NetConfig, OtherFilesAreIgnored) {
    write("local", "README", "not json");
    write("local", "a.conf.bak", "not json");
    fs::make_dirs(dir_ / "local/net.d/dir.conf");
    EXPECT_EQ(load_network_configs(sources()).size(), 2u);
}

TEST_F(NetConfig, BadFilesAreErrorsNamingTheFile) {
    write("local", "bad.conf", "{not json");
    std::string e = load_error();
    EXPECT_NE(e.find("bad.conf"), std::string::npos) << e;
    EXPECT_NE(e.find("not valid JSON"), std::string::npos) << e;
}

TEST_F(NetConfig, BadShapes) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {R"({"type":"ptp"})", "no \"name\""},
        {R"({"name":"n"})", "no \"type\""},
        {R"({"name":"n","type":"../../bin/sh"})", "not a plugin name"},
        {R"({"name":"n","type":7})", "no \"type\""},
        {R"({"name":"a b","type":"ptp"})", "not a valid network name"},
        {R"({"name":"n","plugins":[]})", "non-empty array"},
        {R"({"name":"n","plugins":{}})", "non-empty array"},
        {R"({"name":"n","plugins":[3]})", "not an object"},
        {R"({"name":"n","cniVersion":1,"type":"ptp"})", "cniVersion"},
        {R"({"name":"n","type":"ptp","ipam":{"type":"a/b"}})", "ipam"},
        {R"([1,2])", "not a JSON object"},
        {std::string(100, '[') + std::string(100, ']'), "nested deeper"},
    };
    for (const auto& [text, expected] : cases) {
        write("local", "n.conf", text);
        std::string e = load_error();
        EXPECT_NE(e.find(expected), std::string::npos) << text << " -> " << e;
        EXPECT_NE(e.find("n.conf"), std::string::npos) << e;
    }
}

TEST_F(NetConfig, TooLargeFile) {
    write("local", "big.conf",
          R"({"name":"n","type":"ptp","x":")" + std::string(2 << 20, 'a') + "\"}");
    EXPECT_NE(load_error().find("big.conf"), std::string::npos);
}

}  // namespace
}  // namespace rkt::net
