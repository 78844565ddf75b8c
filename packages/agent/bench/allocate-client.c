/*
 * The agent bench's timed client: `count` allocations over the agent's unix socket, `concurrency` in
 * flight (one thread each), one connection per request as the CNI plugin makes. Written in C, as the
 * plugin is, so that no garbage collector or JIT compiler of the client's own lands on the requests it
 * times: a Node client collected twice in every 1000-request storm, 4-6 ms each, and both pauses
 * were among the slowest requests it measured.
 *
 * Usage: allocate-client SOCKET CONCURRENCY COUNT PREFIX [FLOOR_SOCKET BLOCK]. Request i allocates
 * container PREFIX-i, interface eth0, on network weft. Each answer must be HTTP 200 with an address
 * that parses as one; anything else stops the run (exit 1, the reason on stderr). Prints one line per
 * request, in order: its start and end in nanoseconds of CLOCK_MONOTONIC.
 *
 * With FLOOR_SOCKET (concurrency 1 only), the machine's own floor is timed in the same minutes: after
 * the first BLOCK requests to the agent a forked child serves FLOOR_SOCKET, answering each connection,
 * once its request is read, with the agent's last answer byte for byte; then blocks of BLOCK requests
 * alternate, the same requests by the same code to the child, then to the agent again, so that both
 * meet the same phases of the host. COUNT more lines follow the agent's: the child's requests, in order.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Bound on one request's send and on each wait for its answer (the agent's own bound is shorter). */
#define IO_TIMEOUT_S 60
#define MAX_ANSWER 4096
#define MAX_THREADS 1024

static struct sockaddr_un agent;
static const char *prefix;
static long count;
static atomic_long next_request;
static long long *spans; /* start, end per request */
/* The agent's last answer: what the floor's child answers with. */
static char last_answer[MAX_ANSWER + 1];
static size_t last_answer_length;

static void fail(long i, const char *what, const char *detail) {
  fprintf(stderr, "allocate-client: request %ld: %s%s%s\n", i, what, detail == NULL ? "" : ": ", detail == NULL ? "" : detail);
  exit(1);
}

static long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* The body's "address":"..." value, checked to be an IPv4 or IPv6 address. */
static int has_address(const char *body) {
  const char *key = "\"address\":\"";
  const char *at = strstr(body, key);
  if (at == NULL) return 0;
  at += strlen(key);
  const char *end = strchr(at, '"');
  if (end == NULL || end - at >= INET6_ADDRSTRLEN) return 0;
  char text[INET6_ADDRSTRLEN];
  memcpy(text, at, (size_t)(end - at));
  text[end - at] = '\0';
  unsigned char bytes[16];
  return inet_pton(AF_INET, text, bytes) == 1 || inet_pton(AF_INET6, text, bytes) == 1;
}

/* One allocation at `to`: connect, send, read to the end, check. Returns nothing: a failure ends the run. */
static void allocate(const struct sockaddr_un *to, long i, const char *request, size_t length) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) fail(i, "socket", strerror(errno));
  struct timeval bound = { .tv_sec = IO_TIMEOUT_S };
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &bound, sizeof bound);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &bound, sizeof bound);
  if (connect(fd, (const struct sockaddr *)to, sizeof *to) != 0) fail(i, "connect", strerror(errno));
  for (size_t sent = 0; sent < length;) {
    ssize_t n = write(fd, request + sent, length - sent);
    if (n < 0 && errno != EINTR) fail(i, "write", strerror(errno));
    if (n > 0) sent += (size_t)n;
  }
  char answer[MAX_ANSWER + 1];
  size_t got = 0;
  for (;;) {
    if (got == MAX_ANSWER) fail(i, "answer larger than expected", NULL);
    ssize_t n = read(fd, answer + got, MAX_ANSWER - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(i, "read", strerror(errno));
    if (n == 0) break;
    got += (size_t)n;
  }
  close(fd);
  answer[got] = '\0';
  if (strncmp(answer, "HTTP/1.1 200 ", 13) != 0) fail(i, "not answered 200", answer);
  const char *body = strstr(answer, "\r\n\r\n");
  if (body == NULL || !has_address(body)) fail(i, "no address in the answer", answer);
  if (to == &agent) {
    memcpy(last_answer, answer, got);
    last_answer_length = got;
  }
}

/* Request i, as the plugin has it ready before it connects; its length. */
static size_t build_request(long i, char *request, size_t size) {
  char body[512];
  int b = snprintf(body, sizeof body, "{\"network\":\"weft\",\"containerId\":\"%s-%ld\",\"ifname\":\"eth0\"}", prefix, i);
  int r = snprintf(request, size,
    "POST /v1/allocate HTTP/1.1\r\nHost: weft\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", b, body);
  if (b < 0 || (size_t)b >= sizeof body || r < 0 || (size_t)r >= size) fail(i, "prefix too long", NULL);
  return (size_t)r;
}

/* Request i to `to`, timed into `into`. */
static void timed(const struct sockaddr_un *to, long i, long long *into) {
  char request[1024];
  size_t length = build_request(i, request, sizeof request);
  long long start = now_ns();
  allocate(to, i, request, length);
  into[2 * i] = start;
  into[2 * i + 1] = now_ns();
}

static void *run(void *unused) {
  (void)unused;
  for (;;) {
    long i = atomic_fetch_add(&next_request, 1);
    if (i >= count) return NULL;
    timed(&agent, i, spans);
  }
}

/*
 * The floor's child: one connection at a time, as the agent's one thread takes them; reads the head
 * and the Content-Length body, writes the answer, closes. Ends when the parent kills it.
 */
static void serve(int listener, const char *answer, size_t length) {
  char request[MAX_ANSWER + 1];
  for (;;) {
    int fd = accept(listener, NULL, NULL);
    if (fd < 0) {
      if (errno == EINTR) continue;
      _exit(1);
    }
    size_t got = 0;
    long want = -1;
    while (want < 0 || (long)got < want) {
      ssize_t n = read(fd, request + got, MAX_ANSWER - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += (size_t)n;
      request[got] = '\0';
      const char *end = strstr(request, "\r\n\r\n");
      const char *field = strstr(request, "Content-Length: ");
      if (want < 0 && end != NULL && field != NULL && field < end) want = (end + 4 - request) + strtol(field + 16, NULL, 10);
      if (got == MAX_ANSWER) break;
    }
    for (size_t sent = 0; sent < length;) {
      ssize_t n = write(fd, answer + sent, length - sent);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      sent += (size_t)n;
    }
    close(fd);
  }
}

/* The agent's requests and the floor's in alternating blocks (see the top); the floor's spans into `floor_spans`. */
static void interleaved(const char *floor_path, long block, long long *floor_spans) {
  struct sockaddr_un at = { .sun_family = AF_UNIX };
  strcpy(at.sun_path, floor_path);
  for (long i = 0; i < block && i < count; i++) timed(&agent, i, spans);
  unlink(floor_path);
  int listener = socket(AF_UNIX, SOCK_STREAM, 0);
  if (listener < 0 || bind(listener, (struct sockaddr *)&at, sizeof at) != 0 || listen(listener, 64) != 0) fail(block, "floor socket", strerror(errno));
  fflush(stdout);
  pid_t child = fork();
  if (child < 0) fail(block, "fork", strerror(errno));
  if (child == 0) {
    /* Gone with the parent, however it ends (a failed request exits at once). */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1) _exit(1);
    serve(listener, last_answer, last_answer_length);
  }
  close(listener);
  for (long from = 0; from < count; from += block) {
    for (long i = from; i < from + block && i < count; i++) timed(&at, i, floor_spans);
    for (long i = from + block; i < from + 2 * block && i < count; i++) timed(&agent, i, spans);
  }
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  unlink(floor_path);
}

int main(int argc, char **argv) {
  if (argc != 5 && argc != 7) {
    fprintf(stderr, "usage: allocate-client SOCKET CONCURRENCY COUNT PREFIX [FLOOR_SOCKET BLOCK]\n");
    return 2;
  }
  long concurrency = strtol(argv[2], NULL, 10);
  count = strtol(argv[3], NULL, 10);
  prefix = argv[4];
  const char *floor_path = argc == 7 ? argv[5] : NULL;
  long block = argc == 7 ? strtol(argv[6], NULL, 10) : 0;
  if (strlen(argv[1]) >= sizeof agent.sun_path || concurrency < 1 || concurrency > MAX_THREADS || count < 1 || strlen(prefix) > 200 ||
      (floor_path != NULL && (concurrency != 1 || block < 1 || strlen(floor_path) >= sizeof agent.sun_path))) {
    fprintf(stderr, "allocate-client: bad arguments\n");
    return 2;
  }
  agent.sun_family = AF_UNIX;
  strcpy(agent.sun_path, argv[1]);
  spans = calloc((size_t)count * 2, sizeof *spans);
  long long *floor_spans = floor_path == NULL ? NULL : calloc((size_t)count * 2, sizeof *floor_spans);
  if (spans == NULL || (floor_path != NULL && floor_spans == NULL)) {
    fprintf(stderr, "allocate-client: out of memory\n");
    return 1;
  }
  if (floor_path != NULL) {
    interleaved(floor_path, block, floor_spans);
    for (long i = 0; i < count; i++) printf("%lld %lld\n", spans[2 * i], spans[2 * i + 1]);
    for (long i = 0; i < count; i++) printf("%lld %lld\n", floor_spans[2 * i], floor_spans[2 * i + 1]);
    return fflush(stdout) == 0 ? 0 : 1;
  }
  pthread_t threads[MAX_THREADS];
  for (long t = 0; t < concurrency; t++) {
    if (pthread_create(&threads[t], NULL, run, NULL) != 0) {
      fprintf(stderr, "allocate-client: cannot start thread %ld\n", t);
      return 1;
    }
  }
  for (long t = 0; t < concurrency; t++) pthread_join(threads[t], NULL);
  for (long i = 0; i < count; i++) printf("%lld %lld\n", spans[2 * i], spans[2 * i + 1]);
  return fflush(stdout) == 0 ? 0 : 1;
}
