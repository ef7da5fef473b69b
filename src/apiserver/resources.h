// Kubernetes object semantics over the Store, independent of HTTP: uid, creation
// timestamp, generation (bumped only when spec changes), resourceVersion preconditions
// (409 Conflict), the /status subresource, merge and JSON patches, finalizers with
// deletionTimestamp, no-op writes that create no revision, and admission of polarstack
// kinds (validation and defaults from src/api).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "apiserver/registry.h"
#include "apiserver/selectors.h"
#include "apiserver/store.h"

namespace polarstack::apiserver {

enum class PatchType { kMerge, kJson, kStrategic, kApply };

struct ListResult {
  int64_t revision = 0;
  std::vector<StoredObject> items;
};

class Resources {
 public:
  explicit Resources(Store& store) : store_(store) {}

  core::Result<StoredObject> get(const ResourceType& rt, const std::string& ns, const std::string& name);
  // `ns` empty lists across namespaces.
  core::Result<ListResult> list(const ResourceType& rt, const std::string& ns, const LabelSelector& labels,
                                const FieldSelector& fields);
  core::Result<StoredObject> create(const ResourceType& rt, const std::string& ns, core::Json body);
  core::Result<StoredObject> update(const ResourceType& rt, const std::string& ns, const std::string& name,
                                    core::Json body, bool status);
  core::Result<StoredObject> patch(const ResourceType& rt, const std::string& ns, const std::string& name,
                                   PatchType type, const std::string& patch, bool status);
  // Returns the object as deleted, or as marked for deletion while finalizers remain.
  core::Result<StoredObject> remove(const ResourceType& rt, const std::string& ns, const std::string& name,
                                    const core::Json& options);
  // The scale subresource (autoscaling/v1 Scale), for kinds with rt.scale. An update
  // writes only the spec replicas field, through the kind's admission; a Scale's
  // metadata.resourceVersion is a precondition on the object. `patch` empty: `body` is
  // the whole Scale (PUT); else it is a patch of that type applied to the current Scale.
  core::Result<core::Json> get_scale(const ResourceType& rt, const std::string& ns, const std::string& name);
  core::Result<core::Json> update_scale(const ResourceType& rt, const std::string& ns, const std::string& name,
                                        std::optional<PatchType> patch, const std::string& body);
  // Prefix of storage keys a watch of (rt, ns) covers.
  static std::string watch_prefix(const ResourceType& rt, const std::string& ns);

  Store& store() { return store_; }

 private:
  // The common path of update and patch: `next` is the complete desired object.
  core::Result<Store::Change> prepare_update(const ResourceType& rt, const std::string& ns, const std::string& name,
                                             const core::Json& current, core::Json next, bool status, const Json* classes = nullptr);
  Store& store_;
};

}  // namespace polarstack::apiserver
