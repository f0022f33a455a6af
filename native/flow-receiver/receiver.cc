// Flow-export receiver: one OS thread per UDP socket that does nothing but
// receive (recvmmsg, up to 64 datagrams a system call) into a fixed ring in
// memory. JavaScript takes whole batches of datagrams out of the ring when it
// can. Receiving is urgent and decoding is not: a pause of the JavaScript
// thread (garbage collection, a burst of storage work on the other core) is
// absorbed by the ring instead of overflowing the kernel's socket buffer.
//
// Record layout in the ring and in what read() copies out (little-endian):
//   0  u16  payload length (0xFFFF in the ring only: "wrap to the start")
//   2  u8   address family of the sender, 4 or 6
//   3  u8   0
//   4  f64  time of receipt, ms since the epoch
//   12 16B  sender address (IPv4: first 4 bytes; IPv4-mapped IPv6 arrives as 4)
//   28      payload, then padding to a multiple of 4
// Nothing is kept beyond the datagram bytes and their sender: minimisation is
// the decoder's job, and the ring is overwritten as it turns.

#include <napi.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr size_t kBatch = 64;
constexpr size_t kMaxDatagram = 65536;
constexpr size_t kHeader = 28;
constexpr uint16_t kWrap = 0xFFFF;

inline size_t Align4(size_t n) { return (n + 3) & ~size_t(3); }

// Single producer (the receiving thread), single consumer (JavaScript).
// head and tail count bytes ever written and read; position = count % size.
class Ring {
 public:
  explicit Ring(size_t size) : size_(Align4(size)), data_(size_) {}

  size_t size() const { return size_; }
  size_t used() const { return size_t(head_.load(std::memory_order_acquire) - tail_.load(std::memory_order_acquire)); }

  // Writes one record, or returns false when the ring has no room for it.
  bool Put(const uint8_t* payload, size_t length, uint8_t family, const uint8_t* address, double receivedMs) {
    const size_t need = Align4(kHeader + length);
    uint64_t h = head_.load(std::memory_order_relaxed);
    const uint64_t t = tail_.load(std::memory_order_acquire);
    size_t pos = size_t(h % size_);
    const size_t free = size_ - size_t(h - t);
    const size_t contiguous = size_ - pos;
    if (contiguous < need) {
      // The record does not fit before the end: mark the rest as skipped and start over.
      if (free < contiguous + need) return false;
      uint16_t wrap = kWrap;
      std::memcpy(&data_[pos], &wrap, 2);
      h += contiguous;
      pos = 0;
    } else if (free < need) {
      return false;
    }
    uint8_t* p = &data_[pos];
    const uint16_t len16 = uint16_t(length);
    std::memcpy(p, &len16, 2);
    p[2] = family;
    p[3] = 0;
    std::memcpy(p + 4, &receivedMs, 8);
    std::memcpy(p + 12, address, 16);
    std::memcpy(p + kHeader, payload, length);
    head_.store(h + need, std::memory_order_release);
    return true;
  }

  // Copies whole records into target while they fit; returns the bytes copied.
  size_t Take(uint8_t* target, size_t capacity) {
    uint64_t t = tail_.load(std::memory_order_relaxed);
    const uint64_t h = head_.load(std::memory_order_acquire);
    size_t out = 0;
    while (t < h) {
      const size_t pos = size_t(t % size_);
      uint16_t len;
      std::memcpy(&len, &data_[pos], 2);
      if (len == kWrap) { t += size_ - pos; continue; }
      const size_t rec = Align4(kHeader + len);
      if (out + rec > capacity) break;
      std::memcpy(target + out, &data_[pos], rec);
      out += rec;
      t += rec;
    }
    tail_.store(t, std::memory_order_release);
    return out;
  }

  bool Empty() const { return head_.load(std::memory_order_acquire) == tail_.load(std::memory_order_acquire); }

 private:
  const size_t size_;
  std::vector<uint8_t> data_;
  std::atomic<uint64_t> head_{0};
  std::atomic<uint64_t> tail_{0};
};

double NowMs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return double(ts.tv_sec) * 1000.0 + double(ts.tv_nsec / 1000000);
}

std::string ErrnoText(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

class Receiver : public Napi::ObjectWrap<Receiver> {
 public:
  static Napi::Object Init(Napi::Env env, Napi::Object exports) {
    Napi::Function cls = DefineClass(env, "FlowReceiver", {
      InstanceMethod<&Receiver::Read>("read"),
      InstanceMethod<&Receiver::Arm>("arm"),
      InstanceMethod<&Receiver::Stats>("stats"),
      InstanceMethod<&Receiver::Close>("close"),
      InstanceAccessor<&Receiver::Port>("port"),
      InstanceAccessor<&Receiver::Host>("host"),
      InstanceAccessor<&Receiver::RecvBufferSize>("recvBufferSize"),
      InstanceAccessor<&Receiver::RingBytes>("ringBytes"),
    });
    exports.Set("FlowReceiver", cls);
    return exports;
  }

  // new FlowReceiver(host, port, recvBufferSize, ringBytes, onReadable)
  explicit Receiver(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Receiver>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 5 || !info[0].IsString() || !info[1].IsNumber() || !info[2].IsNumber() || !info[3].IsNumber() || !info[4].IsFunction()) {
      Napi::TypeError::New(env, "FlowReceiver(host, port, recvBufferSize, ringBytes, onReadable)").ThrowAsJavaScriptException();
      return;
    }
    const std::string host = info[0].As<Napi::String>();
    const int port = info[1].As<Napi::Number>().Int32Value();
    const int recvBuffer = info[2].As<Napi::Number>().Int32Value();
    const double ringBytes = info[3].As<Napi::Number>().DoubleValue();
    if (port < 0 || port > 65535) { Napi::RangeError::New(env, "port out of range").ThrowAsJavaScriptException(); return; }
    if (!(ringBytes >= 1 << 20) || ringBytes > double(1ull << 34)) { Napi::RangeError::New(env, "ringBytes must be between 1 MiB and 16 GiB").ThrowAsJavaScriptException(); return; }

    sockaddr_storage ss{};
    socklen_t sslen;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
    if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
      v4->sin_family = AF_INET; v4->sin_port = htons(uint16_t(port)); sslen = sizeof(sockaddr_in);
    } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
      v6->sin6_family = AF_INET6; v6->sin6_port = htons(uint16_t(port)); sslen = sizeof(sockaddr_in6);
    } else {
      Napi::TypeError::New(env, "listener host is not an IP address: " + host).ThrowAsJavaScriptException();
      return;
    }
    fd_ = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) { Napi::Error::New(env, ErrnoText("socket")).ThrowAsJavaScriptException(); return; }
    if (ss.ss_family == AF_INET6) {
      int off = 0;  // dual stack, as node:dgram's udp6
      setsockopt(fd_, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    }
    if (recvBuffer > 0) setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &recvBuffer, sizeof recvBuffer);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&ss), sslen) != 0) {
      const std::string text = ErrnoText(("bind " + host + ":" + std::to_string(port)).c_str());
      close(fd_); fd_ = -1;
      Napi::Error::New(env, text).ThrowAsJavaScriptException();
      return;
    }
    sockaddr_storage bound{};
    socklen_t blen = sizeof bound;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&bound), &blen);
    port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    host_ = host;
    socklen_t optlen = sizeof recvBufferSize_;
    getsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &recvBufferSize_, &optlen);
    wake_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_ < 0) { close(fd_); fd_ = -1; Napi::Error::New(env, ErrnoText("eventfd")).ThrowAsJavaScriptException(); return; }

    ring_ = new Ring(size_t(ringBytes));
    onReadable_ = Napi::ThreadSafeFunction::New(env, info[4].As<Napi::Function>(), "mamori-flow-receiver", 0, 1);
    // A worker thread's environment can end without close(): stop the receiving thread with it.
    env_ = env;
    napi_add_env_cleanup_hook(env, &Receiver::OnEnvCleanup, this);
    hooked_ = true;
    thread_ = std::thread([this]() { Loop(); });
  }

  ~Receiver() override {
    if (hooked_) napi_remove_env_cleanup_hook(env_, &Receiver::OnEnvCleanup, this);
    Stop();
    delete ring_;
  }

 private:
  static void OnEnvCleanup(void* self) {
    auto* r = static_cast<Receiver*>(self);
    r->hooked_ = false;  // the hook has run: the destructor must not remove it again
    r->Stop();
  }

  void Loop() {
    std::vector<uint8_t> buffers(kBatch * kMaxDatagram);
    std::vector<mmsghdr> msgs(kBatch);
    std::vector<iovec> iov(kBatch);
    std::vector<sockaddr_storage> from(kBatch);
    for (size_t i = 0; i < kBatch; i++) {
      iov[i].iov_base = &buffers[i * kMaxDatagram];
      iov[i].iov_len = kMaxDatagram;
    }
    while (!stopping_.load(std::memory_order_acquire)) {
      pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_, POLLIN, 0}};
      if (poll(fds, 2, -1) < 0) { if (errno == EINTR) continue; errors_++; break; }
      if (fds[1].revents) break;
      for (;;) {
        for (size_t i = 0; i < kBatch; i++) {
          std::memset(&msgs[i].msg_hdr, 0, sizeof(msghdr));
          msgs[i].msg_hdr.msg_iov = &iov[i];
          msgs[i].msg_hdr.msg_iovlen = 1;
          msgs[i].msg_hdr.msg_name = &from[i];
          msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
        }
        const int n = recvmmsg(fd_, msgs.data(), kBatch, MSG_DONTWAIT, nullptr);
        if (n <= 0) {
          if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) errors_++;
          break;
        }
        const double now = NowMs();
        bool wrote = false;
        for (int i = 0; i < n; i++) {
          const size_t length = msgs[i].msg_len;
          if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) { truncated_++; continue; }
          uint8_t address[16] = {0};
          uint8_t family = 4;
          const auto& sa = from[i];
          if (sa.ss_family == AF_INET) {
            std::memcpy(address, &reinterpret_cast<const sockaddr_in*>(&sa)->sin_addr, 4);
          } else {
            const auto* a6 = &reinterpret_cast<const sockaddr_in6*>(&sa)->sin6_addr;
            if (IN6_IS_ADDR_V4MAPPED(a6)) std::memcpy(address, a6->s6_addr + 12, 4);
            else { std::memcpy(address, a6->s6_addr, 16); family = 6; }
          }
          if (ring_->Put(&buffers[size_t(i) * kMaxDatagram], length, family, address, now)) wrote = true;
          else { ringDrops_++; }
        }
        received_ += uint64_t(n);
        if (wrote && waiting_.exchange(false)) onReadable_.NonBlockingCall();
        if (size_t(n) < kBatch) break;
      }
    }
  }

  void Stop() {
    if (stopped_) return;
    stopped_ = true;
    if (thread_.joinable()) {
      stopping_.store(true, std::memory_order_release);
      uint64_t one = 1;
      if (write(wake_, &one, sizeof one) < 0) { /* the thread also sees stopping_ at its next wake-up */ }
      thread_.join();
      onReadable_.Release();
    }
    if (fd_ >= 0) close(fd_);
    if (wake_ >= 0) close(wake_);
    fd_ = wake_ = -1;
  }

  // read(target: Buffer): number — bytes of whole records copied into target.
  Napi::Value Read(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsBuffer()) { Napi::TypeError::New(env, "read(target: Buffer)").ThrowAsJavaScriptException(); return env.Undefined(); }
    auto target = info[0].As<Napi::Buffer<uint8_t>>();
    if (target.Length() < kHeader + kMaxDatagram) { Napi::RangeError::New(env, "read target must hold at least one largest datagram (65,564 bytes)").ThrowAsJavaScriptException(); return env.Undefined(); }
    // Still readable after close(): what was received before it is decoded, not lost.
    if (!ring_) return Napi::Number::New(env, 0);
    return Napi::Number::New(env, double(ring_->Take(target.Data(), target.Length())));
  }

  // arm(): asks to be called back when data arrives. Returns true when data is
  // already there (read again now, no call-back will come for it).
  Napi::Value Arm(const Napi::CallbackInfo& info) {
    if (stopped_) return Napi::Boolean::New(info.Env(), false);
    waiting_.store(true);
    if (!ring_->Empty() && waiting_.exchange(false)) return Napi::Boolean::New(info.Env(), true);
    return Napi::Boolean::New(info.Env(), false);
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("received", double(received_.load()));
    o.Set("ringDrops", double(ringDrops_.load()));
    o.Set("truncated", double(truncated_.load()));
    o.Set("errors", double(errors_.load()));
    o.Set("ringUsed", ring_ ? double(ring_->used()) : 0.0);
    return o;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) { Stop(); return info.Env().Undefined(); }
  Napi::Value Port(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), port_); }
  Napi::Value Host(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), host_); }
  Napi::Value RecvBufferSize(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), recvBufferSize_); }
  Napi::Value RingBytes(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), ring_ ? double(ring_->size()) : 0.0); }

  napi_env env_ = nullptr;
  bool hooked_ = false;
  int fd_ = -1;
  int wake_ = -1;
  int port_ = 0;
  int recvBufferSize_ = 0;
  std::string host_;
  Ring* ring_ = nullptr;
  std::thread thread_;
  Napi::ThreadSafeFunction onReadable_;
  bool stopped_ = false;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> waiting_{false};
  std::atomic<uint64_t> received_{0};
  std::atomic<uint64_t> ringDrops_{0};
  std::atomic<uint64_t> truncated_{0};
  std::atomic<uint64_t> errors_{0};
};

Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return Receiver::Init(env, exports); }

}  // namespace

NODE_API_MODULE(flow_receiver, InitModule)
