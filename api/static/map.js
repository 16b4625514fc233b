// riskmap command-centre map: wards coloured by their current level, with the reasons behind each.
(function () {
  "use strict";
  var config = JSON.parse(document.body.getAttribute("data-config") || "{}");
  var LEVELS = [
    [1, "#2e9e44", "Cấp 1 xanh", "Level 1 green"],
    [2, "#f2c200", "Cấp 2 vàng", "Level 2 yellow"],
    [3, "#f07d00", "Cấp 3 cam", "Level 3 orange"],
    [4, "#d7191c", "Cấp 4 đỏ", "Level 4 red"],
    [0, "#9e9e9e", "Chưa đủ dữ liệu", "No data"]
  ];
  var map = L.map("map", { preferCanvas: true, zoomSnap: 0.5 }).setView([10.78, 106.70], 11);
  if (config.basemapUrl) {
    L.tileLayer(config.basemapUrl, { attribution: config.basemapAttribution || "", maxZoom: 19 }).addTo(map);
  }
  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function style(f) {
    return { color: "#37474f", weight: 0.8, fillColor: f.properties.colour, fillOpacity: 0.65 };
  }
  function explain(unitId, layer) {
    fetch("/v1/units/ward/" + encodeURIComponent(unitId)).then(function (r) { return r.json(); }).then(function (a) {
      if (!a.unit) { return; }
      var rows = Object.keys(a.metrics || {}).map(function (k) {
        var v = a.metrics[k];
        return "<tr><td>" + esc(k) + "</td><td>" + esc(typeof v === "number" ? +v.toFixed(4) : v) + "</td></tr>";
      }).join("");
      var reasons = (a.reasons.vi || []).map(function (t, i) {
        return "<li>" + esc(t) + "<br><span class='muted'>" + esc((a.reasons.en || [])[i]) + "</span></li>";
      }).join("");
      layer.bindPopup(
        "<div class='unit'><h3>" + esc(a.unit.name) + "</h3>" +
        "<span class='lvl' style='background:" + esc(a.colour) + "'>" + esc(a.label.vi) + "</span><br>" +
        "<span class='muted'>" + esc(a.label.en) + "</span>" +
        "<ul>" + reasons + "</ul><table>" + rows + "</table>" +
        "<div class='muted'>" + esc(a.profile.id) + " " + esc(a.profile.version) + " · snapshot " +
        esc(a.snapshot_id) + " · " + esc(a.as_of) + "</div></div>", { maxWidth: 420 }
      ).openPopup();
    });
  }
  var legend = L.control({ position: "bottomright" });
  legend.onAdd = function () {
    var div = L.DomUtil.create("div", "legend");
    div.innerHTML = "<strong>Cấp độ dịch / Level</strong><br>" + LEVELS.map(function (l) {
      return "<i style='background:" + l[1] + "'></i>" + l[2] + " <span class='muted'>/ " + l[3] + "</span>";
    }).join("<br>");
    return div;
  };
  legend.addTo(map);
  fetch("/v1/geojson/wards").then(function (r) {
    if (!r.ok) { throw new Error("wards: HTTP " + r.status); }
    return r.json();
  }).then(function (fc) {
    var wards = L.geoJSON(fc, {
      style: style,
      onEachFeature: function (f, layer) {
        layer.bindTooltip(esc(f.properties.name) + " – " + esc(f.properties.label_vi), { sticky: true });
        layer.on("click", function () { explain(f.properties.unit_id, layer); });
      }
    }).addTo(map);
    map.fitBounds(wards.getBounds(), { maxZoom: 12 });
    L.control.layers(null, { "Phường/xã – Wards": wards }, { collapsed: false }).addTo(map);
    document.body.setAttribute("data-loaded", "wards");
  }).catch(function (e) { document.getElementById("snapshot").textContent = String(e); });
  fetch("/v1/snapshots/current").then(function (r) { return r.ok ? r.json() : null; }).then(function (s) {
    if (s) {
      document.getElementById("snapshot").textContent =
        "snapshot " + s.snapshot_id + " · " + s.profile.id + " · ngày " + s.as_of.slice(0, 10);
    }
  });
})();
