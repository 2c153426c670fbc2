// Read-only memory-mapped files: model files are mapped, never read into heap buffers, so opening a
// 40 GB GGUF costs page-table entries, not RAM. An empty file maps to an empty span.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace bitdial {

class MappedFile {
 public:
  // Throws bitdial::Error naming the path when the file cannot be opened or mapped.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

  // Tells the kernel this process no longer needs the whole pages inside [p, p + n) (a part of the
  // mapping): they leave the resident set, stay in the page cache, and are read back transparently
  // if touched again. Used after a copy of the bytes has been made (packed weights). No-op for
  // ranges outside the mapping.
  void drop_resident(const uint8_t* p, size_t n) const;

 private:
  void release();
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace bitdial
