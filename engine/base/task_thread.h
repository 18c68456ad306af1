// File: engine/base/task_thread.h
// A thread that runs tasks in order from a bounded FIFO: the engine's
// partition workers and publishing threads, and the null pipeline's.
//
//   TaskThread worker(/*queue_max=*/8);
//   worker.Push([&] { ApplyBatch(...); });   // blocks while 8 tasks wait
//   worker.Drain();                          // every task pushed so far has run
//
// The destructor runs what is queued, then joins. Thread-safe.
#ifndef LOYALTY_ENGINE_BASE_TASK_THREAD_H_
#define LOYALTY_ENGINE_BASE_TASK_THREAD_H_

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace loyalty {

class TaskThread {
 public:
  explicit TaskThread(size_t queue_max) : queue_max_(queue_max), thread_([this] { Loop(); }) {}
  ~TaskThread() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closing_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  TaskThread(const TaskThread&) = delete;
  TaskThread& operator=(const TaskThread&) = delete;

  // Blocks while queue_max tasks wait.
  void Push(std::function<void()> task) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return tasks_.size() < queue_max_; });
    tasks_.push_back(std::move(task));
    cv_.notify_all();
  }

  // Tasks waiting (not the one running).
  size_t queued() {
    std::lock_guard<std::mutex> lock(mu_);
    return tasks_.size();
  }

  // Returns once every task pushed before it has run.
  void Drain() {
    std::mutex done_mu;
    std::condition_variable done_cv;
    bool done = false;
    Push([&] {
      std::lock_guard<std::mutex> lock(done_mu);
      done = true;
      done_cv.notify_all();
    });
    std::unique_lock<std::mutex> lock(done_mu);
    done_cv.wait(lock, [&] { return done; });
  }

 private:
  void Loop() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return closing_ || !tasks_.empty(); });
        if (tasks_.empty()) return;  // closing, and nothing left
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      cv_.notify_all();  // room in the queue
      task();
    }
  }

  const size_t queue_max_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool closing_ = false;
  std::thread thread_;  // last: starts after the rest is built
};

}  // namespace loyalty

#endif  // LOYALTY_ENGINE_BASE_TASK_THREAD_H_
