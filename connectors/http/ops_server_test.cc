#include "connectors/http/ops_server.h"

#include <httplib.h>

#include <atomic>

#include "gtest/gtest.h"

namespace loyalty {
namespace {

TEST(OpsServerTest, ServesMetricsHealthAndReadiness) {
  std::atomic<bool> ready{false};
  auto server = OpsServer::Start("127.0.0.1:0", {.metrics = [] { return std::string("up 1\n"); },
                                                 .ready =
                                                     [&](std::string* detail) {
                                                       *detail = ready ? "ready" : "catching up";
                                                       return ready.load();
                                                     }});
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->port(), 0);
  httplib::Client client("127.0.0.1", (*server)->port());
  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(metrics->body, "up 1\n");
  EXPECT_EQ(metrics->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  auto health = client.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  auto not_ready = client.Get("/readyz");
  ASSERT_TRUE(not_ready);
  EXPECT_EQ(not_ready->status, 503);
  EXPECT_EQ(not_ready->body, "catching up\n");
  ready = true;
  auto is_ready = client.Get("/readyz");
  ASSERT_TRUE(is_ready);
  EXPECT_EQ(is_ready->status, 200);
  auto missing = client.Get("/nope");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
}

TEST(OpsServerTest, BadOrTakenAddressesAreClearErrors) {
  OpsHandlers handlers{.metrics = [] { return std::string(); },
                       .ready = [](std::string*) { return true; }};
  for (const char* bad : {"127.0.0.1", "127.0.0.1:http", "127.0.0.1:70000"}) {
    auto s = OpsServer::Start(bad, handlers);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_TRUE(absl::IsInvalidArgument(s.status())) << s.status();
    EXPECT_NE(s.status().message().find(bad), std::string::npos) << s.status();
  }
  auto first = OpsServer::Start("127.0.0.1:0", handlers);
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string taken = "127.0.0.1:" + std::to_string((*first)->port());
  auto second = OpsServer::Start(taken, handlers);
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(absl::IsUnavailable(second.status())) << second.status();
  EXPECT_NE(second.status().message().find(taken), std::string::npos) << second.status();
}

}  // namespace
}  // namespace loyalty
