/*
 * The agent bench's timed client: `count` allocations over the agent's unix socket, `concurrency` in
 * flight (one thread each), one connection per request as the CNI plugin makes. Written in C, as the
 * plugin is, so that no garbage collector or JIT compiler of the client's own lands on the requests it
 * times: a Node client collected twice in every 1000-request storm, 4-6 ms each, and both pauses
 * were among the slowest requests it measured.
 *
 * Usage: allocate-client SOCKET CONCURRENCY COUNT PREFIX. Request i allocates container PREFIX-i,
 * interface eth0, on network weft. Each answer must be HTTP 200 with an address that parses as one;
 * anything else stops the run (exit 1, the reason on stderr). Prints one line per request, in order:
 * its start and end in nanoseconds of CLOCK_MONOTONIC.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
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

/* One allocation: connect, send, read to the end, check. Returns nothing: a failure ends the run. */
static void allocate(long i, const char *request, size_t length) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) fail(i, "socket", strerror(errno));
  struct timeval bound = { .tv_sec = IO_TIMEOUT_S };
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &bound, sizeof bound);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &bound, sizeof bound);
  if (connect(fd, (struct sockaddr *)&agent, sizeof agent) != 0) fail(i, "connect", strerror(errno));
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
}

static void *run(void *unused) {
  (void)unused;
  char body[512];
  char request[1024];
  for (;;) {
    long i = atomic_fetch_add(&next_request, 1);
    if (i >= count) return NULL;
    /* Built before the clock starts: the plugin's own request is ready before it connects. */
    int b = snprintf(body, sizeof body, "{\"network\":\"weft\",\"containerId\":\"%s-%ld\",\"ifname\":\"eth0\"}", prefix, i);
    int r = snprintf(request, sizeof request,
      "POST /v1/allocate HTTP/1.1\r\nHost: weft\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", b, body);
    if (b < 0 || (size_t)b >= sizeof body || r < 0 || (size_t)r >= sizeof request) fail(i, "prefix too long", NULL);
    long long start = now_ns();
    allocate(i, request, (size_t)r);
    spans[2 * i] = start;
    spans[2 * i + 1] = now_ns();
  }
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: allocate-client SOCKET CONCURRENCY COUNT PREFIX\n");
    return 2;
  }
  long concurrency = strtol(argv[2], NULL, 10);
  count = strtol(argv[3], NULL, 10);
  prefix = argv[4];
  if (strlen(argv[1]) >= sizeof agent.sun_path || concurrency < 1 || concurrency > MAX_THREADS || count < 1 || strlen(prefix) > 200) {
    fprintf(stderr, "allocate-client: bad arguments\n");
    return 2;
  }
  agent.sun_family = AF_UNIX;
  strcpy(agent.sun_path, argv[1]);
  spans = calloc((size_t)count * 2, sizeof *spans);
  if (spans == NULL) {
    fprintf(stderr, "allocate-client: out of memory\n");
    return 1;
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
