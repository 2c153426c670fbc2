// Output files written all-or-nothing: bytes go to a temporary name in the destination folder and
// are renamed over the destination only by commit(). A writer destroyed before commit() (error,
// exception) deletes its temporary, so an interrupted run never leaves a partial file behind.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace bitdial {

class AtomicFile {
 public:
  explicit AtomicFile(const std::string& path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t n);
  void write(std::string_view s) { write(s.data(), s.size()); }
  void write_zeros(size_t n);
  uint64_t bytes_written() const { return written_; }

  // Flushes, fsyncs and renames the temporary onto the destination path.
  void commit();

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::string temp_path_;
  std::FILE* file_ = nullptr;
  uint64_t written_ = 0;
  bool committed_ = false;
};

// Writes a whole string to path through an AtomicFile.
void write_file_atomic(const std::string& path, std::string_view contents);

// Reads a whole (small) file; throws bitdial::Error naming the path on failure.
std::string read_file(const std::string& path);

}  // namespace bitdial
