// The bench's reference: a one-thread libfuse3 low-level daemon that answers
// getattr of the root, lookup (always ENOENT) and statfs, as cheaply as C
// can. Built by scripts/bench from Debian's libfuse3-dev; not part of nsfs.
#define FUSE_USE_VERSION 34
#include <fuse_lowlevel.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
static void ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  (void)fi; struct stat st; memset(&st, 0, sizeof st);
  if (ino != FUSE_ROOT_ID) { fuse_reply_err(req, ENOENT); return; }
  st.st_ino = 1; st.st_mode = S_IFDIR | 0755; st.st_nlink = 2;
  fuse_reply_attr(req, &st, 10.0);
}
static void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name) { (void)parent; (void)name; fuse_reply_err(req, ENOENT); }
static void ll_statfs(fuse_req_t req, fuse_ino_t ino) {
  (void)ino; struct statvfs s; memset(&s, 0, sizeof s); s.f_bsize = 4096; s.f_namemax = 255; s.f_files = 1;
  fuse_reply_statfs(req, &s);
}
static const struct fuse_lowlevel_ops ops = { .getattr = ll_getattr, .lookup = ll_lookup, .statfs = ll_statfs };
int main(int argc, char *argv[]) {
  struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
  struct fuse_cmdline_opts o;
  if (fuse_parse_cmdline(&args, &o) != 0 || o.mountpoint == NULL) return 2;
  struct fuse_session *se = fuse_session_new(&args, &ops, sizeof ops, NULL);
  if (se == NULL || fuse_set_signal_handlers(se) != 0 || fuse_session_mount(se, o.mountpoint) != 0) return 1;
  int r = fuse_session_loop(se);
  fuse_session_unmount(se); fuse_remove_signal_handlers(se); fuse_session_destroy(se);
  return r != 0;
}
