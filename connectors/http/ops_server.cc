#include "connectors/http/ops_server.h"

#include <httplib.h>

#include <cerrno>
#include <cstring>
#include <chrono>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/metrics/metrics.h"

namespace loyalty {

class OpsServer::Impl {
 public:
  httplib::Server server;
  std::thread thread;
};

namespace {

// "host:port" into its parts; "[::1]:9464" and ":9464" too.
absl::Status SplitAddress(const std::string& address, std::string* host, int* port) {
  const size_t colon = address.rfind(':');
  int p = -1;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(absl::string_view(address).substr(colon + 1), &p) || p < 0 || p > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--http=", address, ": use HOST:PORT (PORT in [0, 65535]), e.g. 127.0.0.1:9464"));
  }
  *host = address.substr(0, colon);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  if (host->empty()) *host = "0.0.0.0";
  *port = p;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<OpsServer>> OpsServer::Start(const std::string& address,
                                                            OpsHandlers handlers) {
  std::string host;
  int port = 0;
  if (absl::Status s = SplitAddress(address, &host, &port); !s.ok()) return s;
  std::unique_ptr<OpsServer> ops(new OpsServer());
  ops->impl_ = std::make_unique<Impl>();
  httplib::Server& server = ops->impl_->server;
  // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, with which a
  // second engine on the same port would bind too and take half the
  // scrapes.
  server.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  server.Get("/metrics",
             [metrics = handlers.metrics](const httplib::Request&, httplib::Response& res) {
               res.set_content(metrics(), metrics::kTextContentType);
             });
  server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  server.Get("/readyz", [ready = handlers.ready](const httplib::Request&, httplib::Response& res) {
    std::string detail;
    res.status = ready(&detail) ? 200 : 503;
    res.set_content(detail + "\n", "text/plain");
  });
  const int bound =
      port == 0 ? server.bind_to_any_port(host) : (server.bind_to_port(host, port) ? port : -1);
  if (bound < 0) {
    return absl::UnavailableError(
        absl::StrCat("--http=", address, ": cannot listen there (", std::strerror(errno), ")"));
  }
  ops->port_ = bound;
  ops->impl_->thread = std::thread([&server] { server.listen_after_bind(); });
  // stop() is a no-op until listening began: a server destroyed right
  // after Start would otherwise never stop.
  while (!server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return ops;
}

OpsServer::~OpsServer() {
  if (impl_ == nullptr) return;
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace loyalty
