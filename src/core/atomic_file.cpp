#include "core/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "core/error.h"

namespace bitdial {

AtomicFile::AtomicFile(const std::string& path) : path_(path) {
  std::string templ = path + ".tmp.XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  const int fd = ::mkstemp(buf.data());
  if (fd < 0) fail(path, ": cannot create temporary file: ", std::strerror(errno));
  ::fchmod(fd, 0644);
  temp_path_ = buf.data();
  file_ = ::fdopen(fd, "wb");
  if (file_ == nullptr) {
    ::close(fd);
    ::unlink(temp_path_.c_str());
    fail(path, ": cannot open temporary file: ", std::strerror(errno));
  }
}

AtomicFile::~AtomicFile() {
  if (file_ != nullptr) std::fclose(file_);
  if (!committed_) ::unlink(temp_path_.c_str());
}

void AtomicFile::write(const void* data, size_t n) {
  if (n == 0) return;
  if (std::fwrite(data, 1, n, file_) != n) fail(path_, ": write failed at byte ", written_, ": ", std::strerror(errno));
  written_ += n;
}

void AtomicFile::write_zeros(size_t n) {
  static const char zeros[4096] = {};
  while (n > 0) {
    const size_t k = n < sizeof(zeros) ? n : sizeof(zeros);
    write(zeros, k);
    n -= k;
  }
}

void AtomicFile::commit() {
  BITDIAL_ASSERT(!committed_);
  if (std::fflush(file_) != 0) fail(path_, ": flush failed: ", std::strerror(errno));
  ::fsync(::fileno(file_));
  const int rc = std::fclose(file_);
  file_ = nullptr;
  if (rc != 0) fail(path_, ": close failed: ", std::strerror(errno));
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) fail(path_, ": cannot rename temporary into place: ", std::strerror(errno));
  committed_ = true;
}

void write_file_atomic(const std::string& path, std::string_view contents) {
  AtomicFile f(path);
  f.write(contents);
  f.commit();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, ": cannot open: ", std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail(path, ": read failed");
  return ss.str();
}

}  // namespace bitdial
