// Package watch turns changes in the spec directory into "rescan now"
// notifications for the reconcile loop.
//
// It is level-triggered: an event's type and name carry no meaning beyond
// "something in DIR changed". Every relevant change, a Trigger (SIGHUP), an
// fsnotify error and the periodic resync only add to a pending burst; the
// burst is delivered as one notification on a channel of capacity 1 after a
// quiet period (Debounce), or after MaxDelay at the latest under a storm that
// never goes quiet:
//
//	t=0    first change            burst opens, delivery due at 0+Debounce
//	t<Max  more changes            due moves to last+Debounce, capped at 0+MaxDelay
//	due    delivery                non-blocking send; a pending one absorbs it
//
// What it follows, and how:
//   - Writers inside DIR (cp's truncate and writes, rename-over by sed -i,
//     rsync and editors, git's unlink and create, a ConfigMap's ..data symlink
//     re-pointed by renaming ..data_tmp over it): one inotify watch on the
//     directory, not on files, so renames and new inodes need no bookkeeping.
//   - DIR re-pointed (git-sync swaps a symlink) or removed and re-created: the
//     watch is on what DIR resolves to, and DIR's parent is watched for events
//     of DIR's name. Such an event re-resolves DIR and moves the watch when the
//     resolved path or the directory's identity (device, inode) changed. Late
//     events of an old target are dropped. The parent's watch is a raw
//     inotify one that asks only for entries created, deleted and renamed
//     and for the parent's own removal (fsnotify's mask cannot be narrowed):
//     writes to the parent's other files (a log beside DIR) wake nothing.
//   - DIR missing: notify (the loop sees an empty directory), then retry with a
//     bounded back-off (100ms doubling to 5s) besides the parent's events.
//   - Lost events (queue overflow) and watcher errors: logged, the watch is
//     re-established and a rescan is scheduled. The watcher never gets stuck.
//
// Invariants:
//   - A notification is sent only after the watches that cover its cause are
//     in place, and C holds at most one; a receiver that takes it and then
//     reads the directory misses no change. Run sends one at start.
//   - Changes of entries whose base name Options.Ignore accepts (the daemon's
//     own status, event and temp files) cause nothing. No name is ignored by
//     default, dot-names included: ..data and ..data_tmp matter.
//   - Consecutive notifications caused by changes are at least Debounce apart,
//     and no change waits longer than MaxDelay.
//   - Run's goroutine owns all state; it starts no other goroutine besides
//     fsnotify's reader and the parent watch's reader, which it closes and
//     waits for before returning. When
//     nothing changes it does no work but the resync ticker.
//
// The watcher reads the real clock rather than the project's clock (internal/clock): it is
// driven by real inotify and tested against it, and the debounce rule itself
// (burst) is a pure function of the times passed to it, tested as a table.
//
// Not followed: symlinks above DIR's parent being re-pointed, and the parent
// itself being a re-pointed symlink; the resync (and SIGHUP) re-resolve DIR
// and catch those.
//
// docs/internals.md tells how it fits in: see "Watching the directory".
package watch
