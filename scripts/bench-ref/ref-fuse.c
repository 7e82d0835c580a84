// The bench's reference: a one-thread libfuse3 low-level daemon that answers
// as cheaply as C can: getattr, lookup and statfs, and with REF_LINKS=N in
// its environment a root of N symlinks `link-0`… whose readlink is answered
// every time (like nsfs's, but with nothing checked), kept by the kernel for
// 10 s like nsfs's entries. With REF_HOLDERS=FILE too (one pid per line),
// link i leads to /proc/PID/ns/uts of the pid on line i (mod their count)
// and is checked on every readlink the way nsfs checks a holder: one
// name_to_handle_at(2), the namespace's id against the one its first
// readlink found (ENOENT when it changed). Built by scripts/bench from
// Debian's libfuse3-dev; not part of nsfs.
#define _GNU_SOURCE
#define FUSE_USE_VERSION 34
#include <fuse_lowlevel.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
static long links;
static const char target[] = "/proc/2/ns/uts";
static long *holders, nholders;
// Per holder, the id of its namespace as first found (0: not yet).
static uint64_t *ids;
// The holder of link `ino` (with REF_HOLDERS): its index in `holders` and `ids`.
static long holder_of(fuse_ino_t ino) { return ((long)ino - 2) % nholders; }
// The target of link `ino`, in `buf`; answers its length.
static int target_of(fuse_ino_t ino, char *buf, size_t size) {
  if (nholders == 0) return snprintf(buf, size, "%s", target);
  return snprintf(buf, size, "/proc/%ld/ns/uts", holders[holder_of(ino)]);
}
static void fill(fuse_ino_t ino, struct stat *st) {
  char buf[64];
  memset(st, 0, sizeof *st);
  st->st_ino = ino; st->st_nlink = 1;
  if (ino == FUSE_ROOT_ID) st->st_mode = S_IFDIR | 0755;
  else { st->st_mode = S_IFLNK | 0777; st->st_size = target_of(ino, buf, sizeof buf); }
}
static void ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  (void)fi; struct stat st;
  if (ino != FUSE_ROOT_ID && (long)ino - 2 >= links) { fuse_reply_err(req, ENOENT); return; }
  fill(ino, &st);
  fuse_reply_attr(req, &st, 10.0);
}
static void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
  long i; char end;
  if (parent != FUSE_ROOT_ID || sscanf(name, "link-%ld%c", &i, &end) != 1 || i < 0 || i >= links) { fuse_reply_err(req, ENOENT); return; }
  struct fuse_entry_param e; memset(&e, 0, sizeof e);
  e.ino = (fuse_ino_t)i + 2; e.attr_timeout = 10.0; e.entry_timeout = 10.0; fill(e.ino, &e.attr);
  fuse_reply_entry(req, &e);
}
static void ll_readlink(fuse_req_t req, fuse_ino_t ino) {
  char path[64];
  target_of(ino, path, sizeof path);
  if (nholders > 0) {
    struct { struct file_handle h; unsigned char bytes[64]; } fh;
    int mount_id;
    uint64_t id, *known = &ids[holder_of(ino)];
    fh.h.handle_bytes = sizeof fh.bytes;
    if (name_to_handle_at(AT_FDCWD, path, &fh.h, &mount_id, AT_SYMLINK_FOLLOW) != 0) { fuse_reply_err(req, ENOENT); return; }
    memcpy(&id, fh.h.f_handle, sizeof id);
    if (*known == 0) *known = id;
    if (*known != id) { fuse_reply_err(req, ENOENT); return; }
  }
  fuse_reply_readlink(req, path);
}
static void ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) {
  (void)fi;
  if (ino != FUSE_ROOT_ID) { fuse_reply_err(req, ENOTDIR); return; }
  char *buf = malloc(size); size_t used = 0;
  if (buf == NULL) { fuse_reply_err(req, ENOMEM); return; }
  for (long i = off; i < links + 2; i++) {
    char name[32]; struct stat st; memset(&st, 0, sizeof st);
    if (i < 2) { strcpy(name, i == 0 ? "." : ".."); st.st_ino = FUSE_ROOT_ID; st.st_mode = S_IFDIR; }
    else { snprintf(name, sizeof name, "link-%ld", i - 2); st.st_ino = (ino_t)i; st.st_mode = S_IFLNK; }
    size_t len = fuse_add_direntry(req, buf + used, size - used, name, &st, i + 1);
    if (len > size - used) break;
    used += len;
  }
  fuse_reply_buf(req, buf, used);
  free(buf);
}
static void ll_statfs(fuse_req_t req, fuse_ino_t ino) {
  (void)ino; struct statvfs s; memset(&s, 0, sizeof s); s.f_bsize = 4096; s.f_namemax = 255; s.f_files = 1;
  fuse_reply_statfs(req, &s);
}
static const struct fuse_lowlevel_ops ops = { .getattr = ll_getattr, .lookup = ll_lookup, .readlink = ll_readlink, .readdir = ll_readdir, .statfs = ll_statfs };
int main(int argc, char *argv[]) {
  struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
  const char *n = getenv("REF_LINKS");
  links = n == NULL ? 0 : atol(n);
  const char *file = getenv("REF_HOLDERS");
  if (file != NULL) {
    FILE *f = fopen(file, "r");
    long pid, cap = 1024;
    if (f == NULL) { perror(file); return 2; }
    holders = malloc(cap * sizeof *holders);
    while (holders != NULL && fscanf(f, "%ld", &pid) == 1) {
      if (nholders == cap) holders = realloc(holders, (cap *= 2) * sizeof *holders);
      if (holders != NULL) holders[nholders++] = pid;
    }
    fclose(f);
    ids = calloc(nholders + 1, sizeof *ids);
    if (holders == NULL || ids == NULL) { perror("REF_HOLDERS"); return 1; }
  }
  struct fuse_cmdline_opts o;
  if (fuse_parse_cmdline(&args, &o) != 0 || o.mountpoint == NULL) return 2;
  struct fuse_session *se = fuse_session_new(&args, &ops, sizeof ops, NULL);
  if (se == NULL || fuse_set_signal_handlers(se) != 0 || fuse_session_mount(se, o.mountpoint) != 0) return 1;
  int r = fuse_session_loop(se);
  fuse_session_unmount(se); fuse_remove_signal_handlers(se); fuse_session_destroy(se);
  return r != 0;
}
