#include "gridd/service/qr_poster.hpp"

#include <qrencode.h>

#include <memory>

#include "gridd/core/error.hpp"

namespace gridd::service {

namespace {

struct QrFree {
  void operator()(QRcode* q) const noexcept { QRcode_free(q); }
};
using QrCode = std::unique_ptr<QRcode, QrFree>;

std::string xml_escaped(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default:
        // Control characters have no place in XML 1.0 text.
        if (static_cast<unsigned char>(c) >= 0x20 || c == '\t') out += c;
    }
  }
  return out;
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  std::string s(buf);
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s;
}

}  // namespace

std::string qr_path(const std::string& text, int& size) {
  QrCode code(QRcode_encodeString8bit(text.c_str(), 0, QR_ECLEVEL_M));
  if (!code) {
    throw_invalid("qr_too_long", "the address is too long for a QR code (" + std::to_string(text.size()) + " bytes)",
                  "url");
  }
  size = code->width;
  std::string d;
  // One rectangle per horizontal run of dark modules.
  for (int y = 0; y < size; ++y) {
    for (int x = 0; x < size;) {
      if (!(code->data[y * size + x] & 1)) {
        ++x;
        continue;
      }
      int run = 1;
      while (x + run < size && (code->data[y * size + x + run] & 1)) ++run;
      d += "M" + std::to_string(x) + " " + std::to_string(y) + "h" + std::to_string(run) + "v1h-" +
           std::to_string(run) + "z";
      x += run;
    }
  }
  return d;
}

std::string qr_poster_svg(const PosterText& t) {
  int modules = 0;
  const std::string path = qr_path(t.url, modules);
  // The code: 150 mm wide with its quiet zone of 4 modules each side.
  const double side = 150.0;
  const double unit = side / (modules + 8);
  const double x0 = (210.0 - side) / 2 + 4 * unit;
  const double y0 = 62.0 + 4 * unit;
  const std::string font = "font-family=\"'Noto Sans CJK SC','Source Han Sans SC','PingFang SC',sans-serif\"";
  std::string s;
  s += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"210mm\" height=\"297mm\" viewBox=\"0 0 210 297\">\n";
  s += "<title>" + xml_escaped(t.title) + "</title>\n";
  s += "<rect width=\"210\" height=\"297\" fill=\"#fff\"/>\n";
  s += "<rect x=\"0\" y=\"0\" width=\"210\" height=\"16\" fill=\"#c62828\"/>\n";
  s += "<text x=\"105\" y=\"11\" text-anchor=\"middle\" font-size=\"7\" fill=\"#fff\" " + font +
       ">扫码反映问题 · Scan to report a problem</text>\n";
  s += "<text x=\"105\" y=\"36\" text-anchor=\"middle\" font-size=\"11\" font-weight=\"bold\" fill=\"#111\" " + font +
       ">" + xml_escaped(t.title) + "</text>\n";
  if (!t.subtitle.empty()) {
    s += "<text x=\"105\" y=\"48\" text-anchor=\"middle\" font-size=\"6\" fill=\"#555\" " + font + ">" +
         xml_escaped(t.subtitle) + "</text>\n";
  }
  s += "<rect x=\"" + num((210.0 - side) / 2) + "\" y=\"62\" width=\"" + num(side) + "\" height=\"" + num(side) +
       "\" fill=\"#fff\" stroke=\"#ddd\" stroke-width=\"0.3\"/>\n";
  s += "<path fill=\"#000\" transform=\"translate(" + num(x0) + " " + num(y0) + ") scale(" +
       std::to_string(unit) + ")\" shape-rendering=\"crispEdges\" d=\"" + path + "\"/>\n";
  double y = 62 + side + 16;
  if (!t.person.empty()) {
    s += "<text x=\"105\" y=\"" + num(y) + "\" text-anchor=\"middle\" font-size=\"8\" fill=\"#111\" " + font +
         ">网格员 Grid worker: " + xml_escaped(t.person) + "</text>\n";
    y += 12;
  }
  s += "<text x=\"105\" y=\"" + num(y) + "\" text-anchor=\"middle\" font-size=\"5\" fill=\"#333\" " + font +
       ">无需注册，拍照即报，凭查询码查看办理进度 · No account needed; follow your report with its code</text>\n";
  s += "<text x=\"105\" y=\"" + num(y + 10) + "\" text-anchor=\"middle\" font-size=\"4\" fill=\"#555\" "
       "font-family=\"monospace\">" + xml_escaped(t.url) + "</text>\n";
  s += "</svg>\n";
  return s;
}

}  // namespace gridd::service
