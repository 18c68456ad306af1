// File: connectors/http/ops_server.h
// The operator's HTTP endpoint (SPEC §11; `loyaltyd run --http=ADDR:PORT`):
//
//   GET /metrics  Prometheus text (the `metrics` callback)
//   GET /healthz  200 "ok": the process is alive and serving
//   GET /readyz   200 when `ready` says so, else 503; the body says why
//
// Served by cpp-httplib (Debian's libcpp-httplib-dev: a small, maintained
// HTTP/1.1 server with its own thread pool) on a thread of its own, so a
// slow scraper never touches the engine's threads; the callbacks must be
// thread-safe.
//
//   auto server = OpsServer::Start("127.0.0.1:9464", handlers);
//   ...                       // (*server)->port() is the bound port
//   server->reset();          // stops it
#ifndef LOYALTY_CONNECTORS_HTTP_OPS_SERVER_H_
#define LOYALTY_CONNECTORS_HTTP_OPS_SERVER_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace loyalty {

struct OpsHandlers {
  // The /metrics body (Prometheus text format 0.0.4). Required.
  std::function<std::string()> metrics;
  // Whether the process is ready, and why (the /readyz body). Required.
  std::function<bool(std::string* detail)> ready;
};

class OpsServer {
 public:
  // Binds `address` ("HOST:PORT", "[V6]:PORT", or ":PORT" for every
  // interface; PORT 0 picks a free one) and serves until destroyed.
  // InvalidArgument for a malformed address, Unavailable when it cannot be
  // bound (naming it and the cause).
  static absl::StatusOr<std::unique_ptr<OpsServer>> Start(const std::string& address,
                                                          OpsHandlers handlers);
  ~OpsServer();  // stops serving and joins its thread

  int port() const { return port_; }

  class Impl;

 private:
  OpsServer() = default;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

}  // namespace loyalty

#endif  // LOYALTY_CONNECTORS_HTTP_OPS_SERVER_H_
