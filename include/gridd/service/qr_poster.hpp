#pragma once
/// @file qr_poster.hpp
/// Printable QR posters for notice boards and stations: an A4 portrait SVG
/// with the QR code of the resident's report page (/report/?grid=CODE),
/// the grid's or station's name and the responsible worker's name. The
/// code is made by libqrencode (error correction level M, so a poster with
/// a scratch or a sticker on it still reads).

#include <string>

namespace gridd::service {

struct PosterText {
  std::string title;     ///< the place: "南门社区 第3网格" (escaped for XML here)
  std::string subtitle;  ///< "grid 320113001003" or the station's kind
  std::string person;    ///< the responsible worker ("" when none)
  std::string url;       ///< what the code holds (and the poster prints)
};

/// The QR code of `text` as an SVG path over a grid of modules (one unit per
/// module, no quiet zone); `size` receives the modules per side.
/// @throws Error(invalid_input, "qr_too_long") beyond a QR code's capacity
std::string qr_path(const std::string& text, int& size);

/// The poster, sized 210 x 297 mm.
std::string qr_poster_svg(const PosterText& text);

}  // namespace gridd::service
