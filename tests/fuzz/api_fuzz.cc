// libFuzzer target over what the API server does with a request body: JSON decoding,
// merge and JSON patches, the scale subresource and admission of every kind it serves.
// The first byte picks the operation and the kind; the rest is the body. A first byte of
// 0xF0 and above sends the body as a protobuf object (kubectl's encoding) of Namespace,
// ConfigMap or Secret, decoded and then created.
// Invariants checked on every input (a violation aborts, so libFuzzer keeps the input):
//  - nothing throws;
//  - a rejected request carries a client error (never kInternal) and changes nothing
//    (the store's revision is unchanged);
//  - every error message serializes into a Status body.
// Run: scripts/fuzz.sh (CI runs it for a bounded time; seeds in tests/fuzz/corpus).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "apiserver/protobuf.h"
#include "apiserver/registry.h"
#include "apiserver/resources.h"
#include "apiserver/store.h"

namespace ps = polarstack;
using ps::core::Json;

namespace {

struct Fixture {
  std::unique_ptr<ps::apiserver::Store> store;
  std::unique_ptr<ps::apiserver::Resources> resources;
  ps::apiserver::Registry registry;
  std::string path;

  Fixture() {
    // tmpfs: the store fsyncs every commit, which costs nothing there.
    path = "/dev/shm/polarstack-api-fuzz-" + std::to_string(::getpid()) + ".db";
    auto st = ps::apiserver::Store::open({path, 1000});
    if (!st) {
      std::fprintf(stderr, "cannot open the store at %s: %s\n", path.c_str(), st.error().message.c_str());
      std::abort();
    }
    store = std::move(*st);
    resources = std::make_unique<ps::apiserver::Resources>(*store);
    for (const auto& rt : registry.all()) seed(rt);
  }
  ~Fixture() {
    resources.reset();
    store.reset();
    for (const char* suffix : {"", "-wal", "-shm"}) ::unlink((path + suffix).c_str());
  }

  static std::string ns_of(const ps::apiserver::ResourceType& rt) { return rt.namespaced ? "default" : ""; }

  // One valid object of each kind, named "seed", for updates and patches to work on.
  void seed(const ps::apiserver::ResourceType& rt) {
    Json obj = {{"apiVersion", rt.group_version()}, {"kind", rt.kind}, {"metadata", {{"name", "seed"}}}};
    if (rt.kind == "PolarDBCluster") obj["spec"] = {{"readers", 1}};
    if (rt.kind == "PolarDBOperation") obj["spec"] = {{"clusterRef", "seed"}, {"type", "Switchover"}};
    if (rt.kind == "Namespace" ) obj["metadata"]["name"] = "default";
    (void)resources->create(rt, ns_of(rt), obj);
  }
};

void check_rejection(const ps::core::Error& e, int64_t before, int64_t after, const char* what) {
  if (e.code == ps::core::Code::kInternal) {
    std::fprintf(stderr, "%s: internal error for a client's input: %s\n", what, e.message.c_str());
    std::abort();
  }
  if (after != before) {
    std::fprintf(stderr, "%s: rejected (%s) but the store moved from revision %lld to %lld\n", what,
                 e.message.c_str(), static_cast<long long>(before), static_cast<long long>(after));
    std::abort();
  }
  Json status = {{"kind", "Status"}, {"message", e.message}};
  for (const auto& c : e.causes) status["causes"].push_back({{"field", c.field}, {"message", c.message}});
  (void)status.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture* f = new Fixture();  // lives for the process: libFuzzer never returns from main
  if (size < 1) return 0;
  if (data[0] >= 0xF0) {
    static const char* kProtoKinds[] = {"namespaces", "configmaps", "secrets"};
    const auto* rt = f->registry.find("", "v1", kProtoKinds[(data[0] & 0x0F) % 3]);
    const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
    const int64_t before = f->store->revision();
    auto obj = ps::apiserver::decode_protobuf_object(body, *rt);
    if (!obj) {
      check_rejection(obj.error(), before, f->store->revision(), "protobuf decode");
      return 0;
    }
    auto created = f->resources->create(*rt, Fixture::ns_of(*rt), *obj);
    if (!created) {
      check_rejection(created.error(), before, f->store->revision(), "protobuf create");
      return 0;
    }
    auto made = ps::core::parse_json(*created->data);
    std::string name = made ? ps::core::string_at(*made, "metadata.name") : "";
    if (!name.empty() && name != "seed" && name != "default") (void)f->resources->remove(*rt, Fixture::ns_of(*rt), name, Json::object());
    return 0;
  }
  const auto& types = f->registry.all();
  const auto& rt = types[(data[0] >> 3) % types.size()];
  const int op = data[0] & 7;
  const std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::string ns = Fixture::ns_of(rt);
  const std::string name = rt.kind == "Namespace" ? "default" : "seed";
  const int64_t before = f->store->revision();
  using ps::apiserver::PatchType;
  auto& r = *f->resources;
  const char* what = "";
  ps::core::Status outcome;
  auto as_status = [](const auto& result) -> ps::core::Status {
    if (!result) return std::unexpected(result.error());
    return {};
  };
  switch (op) {
    case 0:
    case 1: {  // create (POST) and update (PUT): the body is decoded first, as the server does
      what = op == 0 ? "create" : "update";
      auto parsed = ps::core::parse_json(body);
      if (!parsed) {
        outcome = std::unexpected(parsed.error());
        break;
      }
      if (op == 0) {
        auto created = r.create(rt, ns, *parsed);
        outcome = as_status(created);
        if (created) {  // keep the store small: what was created goes again
          auto obj = ps::core::parse_json(*created->data);
          std::string made = obj ? ps::core::string_at(*obj, "metadata.name") : "";
          if (!made.empty() && made != name) (void)r.remove(rt, ns, made, Json::object());
        }
      } else {
        outcome = as_status(r.update(rt, ns, name, std::move(*parsed), false));
      }
      break;
    }
    case 2: what = "merge patch"; outcome = as_status(r.patch(rt, ns, name, PatchType::kMerge, body, false)); break;
    case 3: what = "JSON patch"; outcome = as_status(r.patch(rt, ns, name, PatchType::kJson, body, false)); break;
    case 4: what = "status merge patch"; outcome = as_status(r.patch(rt, ns, name, PatchType::kMerge, body, true)); break;
    case 5: what = "scale merge patch"; outcome = as_status(r.update_scale(rt, ns, name, PatchType::kMerge, body)); break;
    case 6: what = "scale update"; outcome = as_status(r.update_scale(rt, ns, name, std::nullopt, body)); break;
    case 7: {  // delete options: a body that is not valid must not delete anything
      what = "delete options";
      auto parsed = ps::core::parse_json(body);
      if (!parsed) {
        outcome = std::unexpected(parsed.error());
        break;
      }
      if (!parsed->is_object() || !parsed->contains("preconditions")) return 0;  // a plain delete is allowed to delete
      outcome = as_status(r.remove(rt, ns, name, *parsed));
      if (outcome) f->seed(rt);
      break;
    }
  }
  if (!outcome) check_rejection(outcome.error(), before, f->store->revision(), what);
  return 0;
}
