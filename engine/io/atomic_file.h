// Files that are always either the old version or the new one, never a torn mix, whatever
// stops the write (an error, SIGKILL, a power loss):
//   1. the bytes go to a temporary file beside the target, "<path>.tmp.<pid>",
//   2. which is fsync'ed and then renamed over `path` (a rename within a folder is atomic),
//   3. and the folder is fsync'ed, so that the rename itself survives a power loss.
// A write that fails removes its temporary file. A process killed in the middle leaves it
// behind, and the next write of the same path removes it. What tells a leftover from the file
// of a live writer is a lock, not the pid in its name (pids repeat, and another pid namespace
// sharing the folder numbers its processes apart): a writer holds an exclusive flock on its
// temporary file from its creation until after the rename, the kernel drops the locks of a
// process that dies, and a temporary file is removed only by whoever holds its lock. A
// temporary name never ends like its target (".safetensors", ".csv", ...), so a scan for
// finished files by their extension cannot mistake one for a finished file.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace fovea::io {

// Writes the concatenation of `chunks` to `path` as described above (`{text}` for one string).
// The folder must exist. Errors are fovea::Errors that start with `who` and name the file.
void write_file_atomically(const std::string& path, const std::vector<std::string_view>& chunks,
                           const char* who = "write_file_atomically");

// Makes `to` a second name of the file `from`, atomically: a hard link under `to`'s temporary
// name, renamed over `to`, so no bytes are copied. Where that fails (a file system without hard
// links), `to` gets a copy, written by write_file_atomically. Nothing is synced: the caller's
// next write in the folder syncs it, and until then a power loss keeps the older `to`.
void link_file_atomically(const std::string& from, const std::string& to,
                          const char* who = "link_file_atomically");

// "<path>.tmp.<pid>" for this process.
std::string temp_path_for(const std::string& path);

// Removes the temporary files of `path` ("<path>.tmp.<digits>", whatever the pid) that no
// writer holds locked; returns how many were removed. Best effort: a file that cannot be opened,
// locked or removed stays for a later call, and the others are still tried. (On a file system
// without flock, writers cannot lock either and nothing is removed.)
int remove_stale_temp_files(const std::string& path);

// fsync of the folder holding `path`, which makes renames and links in it durable. Best effort:
// some file systems refuse to sync a folder, and nothing already written is lost by that.
void sync_parent_directory(const std::string& path);

}  // namespace fovea::io
