#include "apiserver/store.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "support/harness.h"

namespace polarstack::apiserver {
namespace {

using Change = Store::Change;

std::unique_ptr<Store> open_store(const std::string& dir, size_t history = 10000) {
  auto s = Store::open({dir + "/state.db", history});
  EXPECT_TRUE(s) << s.error().message;
  return s ? std::move(*s) : nullptr;
}

core::Result<Event> put(Store& s, const std::string& key, int value) {
  return s.apply(key, [&](const Json*, int64_t) -> core::Result<Change> {
    return Change{Change::Kind::kPut, {{"metadata", {{"name", key}}}, {"value", value}}};
  });
}

TEST(Store, RevisionsAreMonotonicAndSurviveReopen) {
  testing::TempDir dir;
  {
    auto s = open_store(dir.path());
    auto a = put(*s, "k/a", 1);
    auto b = put(*s, "k/b", 2);
    auto a2 = put(*s, "k/a", 3);
    ASSERT_TRUE(a && b && a2);
    EXPECT_EQ(a->object.rev, 1);
    EXPECT_EQ(b->object.rev, 2);
    EXPECT_EQ(a2->object.rev, 3);
    EXPECT_EQ(a2->type, EventType::kModified);
    auto del = s->apply("k/b", [](const Json*, int64_t) -> core::Result<Change> { return Change{Change::Kind::kDelete, {}}; });
    ASSERT_TRUE(del);
    EXPECT_EQ(del->type, EventType::kDeleted);
    EXPECT_EQ(s->revision(), 4);
  }
  auto s = open_store(dir.path());
  EXPECT_EQ(s->revision(), 4);
  auto a = s->get("k/a");
  ASSERT_TRUE(a);
  EXPECT_EQ(core::parse_json(*a->data)->at("value"), 3);
  EXPECT_EQ(core::string_at(*core::parse_json(*a->data), "metadata.resourceVersion"), "3");
  EXPECT_FALSE(s->get("k/b"));
  auto next = put(*s, "k/c", 5);
  EXPECT_EQ(next->object.rev, 5);
}

TEST(Store, NoOpChangeCreatesNoRevision) {
  testing::TempDir dir;
  auto s = open_store(dir.path());
  ASSERT_TRUE(put(*s, "k/a", 1));
  auto none = s->apply("k/a", [](const Json*, int64_t) -> core::Result<Change> { return Change{Change::Kind::kNone, {}}; });
  ASSERT_TRUE(none);
  EXPECT_EQ(none->object.rev, 1);
  EXPECT_EQ(s->revision(), 1);
}

TEST(Store, FailedMutationChangesNothing) {
  testing::TempDir dir;
  auto s = open_store(dir.path());
  ASSERT_TRUE(put(*s, "k/a", 1));
  auto r = s->apply("k/a", [](const Json*, int64_t) -> core::Result<Change> {
    return core::fail(core::Code::kConflict, "no");
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, core::Code::kConflict);
  EXPECT_EQ(s->revision(), 1);
}

TEST(Store, WatchDeliversEveryLaterEventInOrder) {
  testing::TempDir dir;
  auto s = open_store(dir.path());
  ASSERT_TRUE(put(*s, "a/x", 1));
  ASSERT_TRUE(put(*s, "b/x", 1));
  auto w = s->watch("a/", 1);  // after revision 1: history is replayed first
  ASSERT_TRUE(w);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(put(*s, "a/y", i));
  ASSERT_TRUE(put(*s, "b/y", 1));  // another prefix: not delivered
  std::vector<Event> got;
  ASSERT_TRUE(testing::wait_until([&] {
    (*w)->next(got, std::chrono::milliseconds(10));
    return got.size() >= 5;
  }, std::chrono::seconds(5)));
  ASSERT_EQ(got.size(), 5u);
  for (size_t i = 1; i < got.size(); ++i) EXPECT_LT(got[i - 1].object.rev, got[i].object.rev);
  for (const auto& e : got) EXPECT_EQ(e.key, "a/y");
  EXPECT_EQ(got[0].type, EventType::kAdded);
  EXPECT_EQ(got[1].type, EventType::kModified);
}

TEST(Store, WatchResumesAcrossReopenAndAnswersGoneWhenHistoryIsCompacted) {
  testing::TempDir dir;
  {
    auto s = open_store(dir.path(), 5);
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(put(*s, "k/a", i));
  }
  auto s = open_store(dir.path(), 5);
  auto w = s->watch("k/", 2);  // history survived the restart
  ASSERT_TRUE(w);
  std::vector<Event> got;
  (*w)->next(got, std::chrono::milliseconds(100));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].object.rev, 3);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(put(*s, "k/a", i));
  auto gone = s->watch("k/", 2);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, core::Code::kGone);
  EXPECT_GT(s->compacted_revision(), 2);
  EXPECT_TRUE(s->watch("k/", s->compacted_revision()));
}

// The history is bounded by the bytes of its objects too (memory), not only by count:
// big objects written often keep less of it; the newest event always stays.
TEST(Store, HistoryIsBoundedByBytes) {
  testing::TempDir dir;
  auto opened = Store::open({dir.path() + "/state.db", 10000, 4096});
  ASSERT_TRUE(opened) << opened.error().message;
  auto& s = **opened;
  const std::string big(1000, 'x');
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(s.apply("k/a", [&](const Json*, int64_t) -> core::Result<Change> {
      return Change{Change::Kind::kPut, {{"metadata", {{"name", "a"}}}, {"pad", big}, {"i", i}}};
    }));
  }
  // ~1 KB each, 4 KB kept: the last three or four of twenty.
  EXPECT_GE(s.compacted_revision(), 16);
  EXPECT_LT(s.compacted_revision(), 20);
  auto gone = s.watch("k/", 5);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, core::Code::kGone);
  auto w = s.watch("k/", s.compacted_revision());
  ASSERT_TRUE(w);
  std::vector<Event> got;
  (*w)->next(got, std::chrono::milliseconds(100));
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.back().object.rev, 20);
  // One object bigger than the whole bound: it is still the newest event.
  const std::string huge(8192, 'y');
  ASSERT_TRUE(s.apply("k/b", [&](const Json*, int64_t) -> core::Result<Change> {
    return Change{Change::Kind::kPut, {{"metadata", {{"name", "b"}}}, {"pad", huge}}};
  }));
  EXPECT_EQ(s.compacted_revision(), 20);
  EXPECT_TRUE(s.watch("k/", 20));
}

TEST(Store, ConcurrentWritersGetUniqueContiguousRevisions) {
  testing::TempDir dir;
  auto s = open_store(dir.path());
  constexpr int kThreads = 8, kWrites = 100;
  std::vector<std::thread> threads;
  std::vector<std::vector<int64_t>> revs(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kWrites; ++i) {
        auto e = put(*s, "k/" + std::to_string(t) + "-" + std::to_string(i), i);
        if (e) revs[t].push_back(e->object.rev);
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<int64_t> all;
  for (const auto& v : revs) {
    ASSERT_EQ(v.size(), static_cast<size_t>(kWrites));
    for (size_t i = 1; i < v.size(); ++i) EXPECT_LT(v[i - 1], v[i]);
    all.insert(v.begin(), v.end());
  }
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kWrites));
  EXPECT_EQ(*all.begin(), 1);
  EXPECT_EQ(*all.rbegin(), kThreads * kWrites);
  int64_t rev = 0;
  EXPECT_EQ(s->list("k/", &rev).size(), static_cast<size_t>(kThreads * kWrites));
  EXPECT_EQ(rev, kThreads * kWrites);
}

}  // namespace
}  // namespace polarstack::apiserver
