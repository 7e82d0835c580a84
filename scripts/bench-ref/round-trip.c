// The bench's client for request round trips: `round-trip statfs|miss MNT N`
// makes N statfs(2) of MNT, or N lstat(2) of a name MNT does not have, and
// prints the mean microseconds of one. In C, so that the client's own cost
// (small and the same for every daemon) does not blur the daemons' ratio.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
static double micros(void) {
  struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}
int main(int argc, char *argv[]) {
  if (argc != 4 || (strcmp(argv[1], "statfs") != 0 && strcmp(argv[1], "miss") != 0)) {
    fprintf(stderr, "usage: round-trip statfs|miss MNT N\n"); return 2;
  }
  int statfs_op = strcmp(argv[1], "statfs") == 0;
  long n = atol(argv[3]);
  char miss[4096]; snprintf(miss, sizeof miss, "%s/no-such-entry", argv[2]);
  struct statfs sf; struct stat st;
  double t0 = micros();
  for (long i = 0; i < n; i++) {
    if (statfs_op) { if (statfs(argv[2], &sf) != 0) { perror(argv[2]); return 1; } }
    else lstat(miss, &st);
  }
  printf("%.3f\n", (micros() - t0) / n);
  return 0;
}
