// Readiness of a file descriptor on the main thread's event loop: libuv's
// uv_poll (epoll underneath), reached through the libuv symbols that the
// node binary exports for native addons. So /dev/fuse, a netlink socket or
// a fanotify fd is read the moment it has something, on the thread that
// answers, with no thread-pool hop and no read left blocking at exit.
import koffi from 'koffi'

const UV_POLL_HANDLE = 8
export const UV_READABLE = 1
export const UV_PRIORITIZED = 8

const node = koffi.load(null)
const uvDefaultLoop = node.func('void *uv_default_loop(void)')
const uvHandleSize = node.func('size_t uv_handle_size(int type)')
const PollCallback = koffi.proto('void nsfs_uv_poll_cb(void *handle, int status, int events)')
const CloseCallback = koffi.proto('void nsfs_uv_close_cb(void *handle)')
const uvPollInit = node.func('int uv_poll_init(void *loop, void *handle, int fd)')
const uvPollStart = node.func('int uv_poll_start(void *handle, int events, nsfs_uv_poll_cb *cb)')
const uvPollStop = node.func('int uv_poll_stop(void *handle)')
const uvClose = node.func('void uv_close(void *handle, nsfs_uv_close_cb *cb)')
const uvUnref = node.func('void uv_unref(void *handle)')
const uvStrerror = node.func('const char *uv_strerror(int err)')

const HANDLE_SIZE = Number(uvHandleSize(UV_POLL_HANDLE))

// Handles by address: libuv calls back with the handle's address, and a
// closing handle's memory must outlive the close, which completes on a
// later turn of the loop.
const watching = new Map<bigint, FdWatch>()
const closing = new Map<bigint, Buffer>()

const onPoll = koffi.register((handle: unknown, status: number, events: number) => {
  watching.get(koffi.address(handle))?.fire(status, events)
}, koffi.pointer(PollCallback))

const onClose = koffi.register((handle: unknown) => {
  closing.delete(koffi.address(handle))
}, koffi.pointer(CloseCallback))

export type ReadyCallback = (events: number, error: string | undefined) => void

export class FdWatch {
  private readonly handle = Buffer.alloc(HANDLE_SIZE)
  private readonly address: bigint
  private open = true

  // `events`: UV_READABLE and/or UV_PRIORITIZED (POLLPRI). The callback runs
  // on the main thread whenever the fd is ready, until stop(); an exception
  // it throws is its own to handle (it cannot cross back into libuv).
  constructor (fd: number, private readonly events: number, private readonly onReady: ReadyCallback) {
    const r = uvPollInit(uvDefaultLoop(), this.handle, fd) as number
    if (r !== 0) throw new Error(`uv_poll_init on fd ${fd}: ${uvStrerror(r) as string}`)
    this.address = koffi.address(this.handle)
    watching.set(this.address, this)
    const s = uvPollStart(this.handle, events, onPoll) as number
    if (s !== 0) {
      this.stop()
      throw new Error(`uv_poll_start on fd ${fd}: ${uvStrerror(s) as string}`)
    }
  }

  fire (status: number, events: number): void {
    if (!this.open) return
    this.onReady(events, status < 0 ? uvStrerror(status) as string : undefined)
  }

  // Not watched until restart(); the handle stays.
  pause (): void {
    if (this.open) uvPollStop(this.handle)
  }

  // Watches again after pause() or an error: libuv stops a poll handle on
  // POLLERR (e.g. a netlink socket that overflowed) and reports it once.
  restart (): void {
    if (!this.open) return
    const s = uvPollStart(this.handle, this.events, onPoll) as number
    if (s !== 0) throw new Error(`uv_poll_start: ${uvStrerror(s) as string}`)
  }

  // Lets the process exit while this is the only thing left watching.
  unref (): void {
    if (this.open) uvUnref(this.handle)
  }

  // Stops watching; the fd itself stays open (its owner closes it after).
  stop (): void {
    if (!this.open) return
    this.open = false
    uvPollStop(this.handle)
    watching.delete(this.address)
    closing.set(this.address, this.handle)
    uvClose(this.handle, onClose)
  }
}
