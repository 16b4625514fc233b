// riskmap command-centre map (MapLibre GL, served by this app): riskmap's own style (/styles/riskmap.json)
// with a layer switcher, a bilingual legend, a date selector (past snapshots by TileJSON ?as_of=), a
// "changes since" view (raised / lowered wards outlined), search by ward name or address, a summary panel
// and a click explanation (level, reasons, metrics, trend, pending raise).
// The page reports its state on <body>: data-state (loading | idle), data-date, data-selected, data-error.
(function () {
  "use strict";
  var body = document.body;
  var config = JSON.parse(body.getAttribute("data-config") || "{}");
  var TILE_SOURCES = ["wards", "groups", "h3", "hotspots", "households"];
  var LAYER_GROUPS = [
    ["basemap", ["basemap"], "Bản đồ nền", "Base map"],
    ["wards", ["wards-fill", "wards-line"], "Phường/xã", "Wards"],
    ["groups", ["groups-fill", "groups-line"], "Tổ dân phố", "Neighbourhood groups"],
    ["h3", ["h3-fill"], "Ô lưới H3", "H3 cells"],
    ["hotspots", ["hotspots-line"], "Điểm nóng", "Hotspots"],
    ["households", ["households-circle"], "Hộ gia đình (từ mức thu phóng 15)", "Households (zoom 15+)"],
    ["changes", ["changes-raised", "changes-lowered"], "Thay đổi", "Changes"]
  ];
  var CLICKABLE = [
    ["households-circle", "household"], ["h3-fill", "h3"], ["groups-fill", "group"], ["wards-fill", "ward"]
  ];
  var FLAGS = {
    f0: "F0", f1: "F1", positive: "Dương tính / positive",
    elderly_unvaccinated: "Người cao tuổi chưa tiêm / elderly unvaccinated",
    booster_due: "Đến hạn mũi nhắc / booster due", support: "Diện hỗ trợ / support eligible"
  };
  window.riskmapRequests = [];
  var state = { asOf: null, since: null, snapshots: [], current: null, wards: [], legend: [], map: null };

  // --- helpers ---------------------------------------------------------------------------------------
  var token = (function () {
    var m = /(?:^|[#&])key=([^&]+)/.exec(location.hash);
    if (m) {
      try { sessionStorage.setItem("riskmap.key", decodeURIComponent(m[1])); } catch (e) { /* private mode */ }
      history.replaceState(null, "", location.pathname + location.search);
    }
    try { return sessionStorage.getItem("riskmap.key"); } catch (e) { return null; }
  })();
  function headers() { return token ? { Authorization: "Bearer " + token } : {}; }
  function getJSON(url) {
    return fetch(url, { headers: headers() }).then(function (r) {
      if (!r.ok) { var e = new Error(url + ": HTTP " + r.status); e.status = r.status; throw e; }
      return r.json();
    });
  }
  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function fold(s) {
    return String(s || "").normalize("NFD").replace(/[\u0300-\u036f]/g, "").replace(/[đĐ]/g, "d")
      .toLowerCase().replace(/^(phuong|xa|thi tran|dac khu|p\.?)\s+/, "").replace(/\s+/g, " ").trim();
  }
  function q(asOf) { return asOf ? "?as_of=" + asOf : ""; }
  function fmt(v) { return typeof v === "number" ? String(+v.toFixed(2)) : esc(v); }
  function setError(msg) { body.setAttribute("data-error", msg); document.getElementById("snapshot").textContent = msg; }
  function levelColour(level) {
    for (var i = 0; i < state.legend.length; i++) { if (state.legend[i].level === level) { return state.legend[i].colour; } }
    return "#9e9e9e";
  }
  function h3Type(hex) { return "h3_" + parseInt(hex.charAt(1), 16); }

  // --- the map ---------------------------------------------------------------------------------------
  // The map starts as soon as its style is in hand; the snapshot list fills the date selector when it
  // arrives, and the summary waits for the first drawn frame (it would compete with the first tiles).
  var snapshotsReady = Promise.all([
    getJSON("/v1/snapshots").catch(function () { return { snapshots: [] }; }),
    getJSON("/v1/snapshots/current").catch(function () { return null; })
  ]).then(function (res) {
    state.snapshots = res[0].snapshots.slice().reverse(); // newest first
    state.current = res[1];
  });
  state.snapshots = [];
  getJSON("/styles/riskmap.json").then(function (style) {
    performance.mark("riskmap-style"); // style in hand: the map starts
    state.legend = (style.metadata && style.metadata["riskmap:legend"]) || [];
    style.layers.push(
      { id: "changes-raised", type: "line", source: "wards", "source-layer": "wards",
        filter: ["in", ["get", "unit_id"], ["literal", []]],
        paint: { "line-color": "#4a0072", "line-width": 3.5 } },
      { id: "changes-lowered", type: "line", source: "wards", "source-layer": "wards",
        filter: ["in", ["get", "unit_id"], ["literal", []]],
        paint: { "line-color": "#0d47a1", "line-width": 3, "line-dasharray": [2, 1] } }
    );
    var params = new URLSearchParams(location.search);
    var map = state.map = new maplibregl.Map({
      container: "map",
      style: style,
      center: style.center,
      zoom: params.get("zoom") ? parseFloat(params.get("zoom")) : 10,
      fadeDuration: 0,
      preserveDrawingBuffer: true, // screenshots and printing
      attributionControl: { compact: true },
      transformRequest: function (url) {
        window.riskmapRequests.push(url); // what the map asked for (tiles are fetched in workers)
        return token && url.indexOf(location.origin) === 0 ? { url: url, headers: headers() } : { url: url };
      }
    });
    if (params.get("lon") && params.get("lat")) {
      map.jumpTo({ center: [parseFloat(params.get("lon")), parseFloat(params.get("lat"))] });
    }
    map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
    map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-right");
    map.on("error", function (e) {
      var src = e.sourceId || (e.source && e.source.id);
      if (src === "basemap") { // offline: ward outlines on the neutral background
        if (map.getLayer("basemap") && map.getLayoutProperty("basemap", "visibility") !== "none") {
          map.setLayoutProperty("basemap", "visibility", "none");
          document.getElementById("search-msg").textContent =
            "Không tải được bản đồ nền: dùng nền trơn / Base map unreachable: plain background";
          syncSwitcher();
        }
        return;
      }
      // household tiles beyond the caller's area are refused (403): the rest of the map is fine
      if (e.error && (e.error.status === 401 || e.error.status === 403) && src === "households") { return; }
      body.setAttribute("data-error", String(e.error && e.error.message));
    });
    map.on("dataloading", function () { body.setAttribute("data-state", "loading"); });
    map.once("load", function () { performance.mark("riskmap-load"); });
    map.once("idle", function () {
      window.riskmapFirstRender = performance.now();
      snapshotsReady.then(refreshSummary);
    });
    map.on("idle", function () { body.setAttribute("data-state", "idle"); });
    map.on("click", onClick);
    map.on("mousemove", function (e) {
      var hit = map.queryRenderedFeatures(e.point, { layers: clickableLayers() });
      map.getCanvas().style.cursor = hit.length ? "pointer" : "";
    });
    buildLegend();
    snapshotsReady.then(buildDates);
    map.on("load", buildSwitcher);
  }).catch(function (e) { setError(String(e)); });

  function clickableLayers() {
    return CLICKABLE.map(function (c) { return c[0]; }).filter(function (id) { return state.map.getLayer(id); });
  }

  // --- layer switcher and legend ----------------------------------------------------------------------
  function buildSwitcher() {
    var box = document.getElementById("layers");
    LAYER_GROUPS.forEach(function (g) {
      var ids = g[1].filter(function (id) { return state.map.getStyle().layers.some(function (l) { return l.id === id; }); });
      if (!ids.length) { return; }
      var label = document.createElement("label");
      label.className = "switch";
      var box2 = document.createElement("input");
      box2.type = "checkbox";
      box2.setAttribute("data-layer", g[0]);
      box2.checked = ids.some(function (id) { return layerVisible(id); });
      box2.addEventListener("change", function () {
        ids.forEach(function (id) { state.map.setLayoutProperty(id, "visibility", box2.checked ? "visible" : "none"); });
      });
      label.appendChild(box2);
      label.insertAdjacentHTML("beforeend", " " + esc(g[2]) + " <span class='muted'>/ " + esc(g[3]) + "</span>");
      box.appendChild(label);
    });
  }
  function layerVisible(id) {
    var l = state.map.getStyle().layers.filter(function (x) { return x.id === id; })[0];
    return !(l && l.layout && l.layout.visibility === "none");
  }
  function syncSwitcher() {
    LAYER_GROUPS.forEach(function (g) {
      var el = document.querySelector("input[data-layer='" + g[0] + "']");
      if (el) { el.checked = g[1].some(function (id) { return state.map.getLayer(id) && layerVisible(id); }); }
    });
  }
  function buildLegend() {
    var rows = state.legend.map(function (l) {
      return "<div><i style='background:" + esc(l.colour) + "'></i>" + esc(l.vi) + "<br><span class='muted'>" + esc(l.en) + "</span></div>";
    });
    rows.push("<div><i class='line raised'></i>Tăng cấp <span class='muted'>/ raised</span></div>");
    rows.push("<div><i class='line lowered'></i>Giảm cấp <span class='muted'>/ lowered</span></div>");
    rows.push("<div><i class='line hot'></i>Điểm nóng <span class='muted'>/ hotspot</span></div>");
    document.getElementById("legend").insertAdjacentHTML("beforeend", rows.join(""));
  }

  // --- date selector and "changes since" ---------------------------------------------------------------
  function buildDates() {
    var date = document.getElementById("date");
    var since = document.getElementById("since");
    state.snapshots.forEach(function (s, i) {
      var day = s.as_of.slice(0, 10);
      date.insertAdjacentHTML("beforeend", "<option value='" + (i === 0 ? "" : day) + "'>" + day + (i === 0 ? " (hiện tại / current)" : "") + "</option>");
    });
    fillSince();
    date.addEventListener("change", function () {
      state.asOf = date.value || null;
      body.setAttribute("data-state", "loading");
      body.setAttribute("data-date", state.asOf || "");
      TILE_SOURCES.forEach(function (id) {
        var src = state.map.getSource(id);
        if (src && src.setUrl) { src.setUrl(location.origin + "/tiles/" + id + ".json" + q(state.asOf)); }
      });
      fillSince();
      refreshSummary();
      document.getElementById("info").hidden = true;
    });
    since.addEventListener("change", function () { state.since = since.value || null; refreshSummary(); });
  }
  function selectedIndex() {
    var i = 0;
    if (state.asOf) {
      state.snapshots.forEach(function (s, k) { if (s.as_of.slice(0, 10) === state.asOf) { i = k; } });
    }
    return i;
  }
  function fillSince() {
    var since = document.getElementById("since");
    var i = selectedIndex();
    since.innerHTML = "<option value=''>—</option>";
    state.snapshots.slice(i + 1).forEach(function (s) {
      var day = s.as_of.slice(0, 10);
      since.insertAdjacentHTML("beforeend", "<option value='" + day + "'>" + day + "</option>");
    });
    state.since = state.snapshots[i + 1] ? state.snapshots[i + 1].as_of.slice(0, 10) : null; // the last snapshot
    since.value = state.since || "";
  }

  // --- summary panel -----------------------------------------------------------------------------------
  function primaryMetric(rows) {
    for (var i = 0; i < rows.length; i++) {
      var m = rows[i].metrics || {};
      if (typeof m.community_cases_per_100k_7d === "number") { return "community_cases_per_100k_7d"; }
      for (var k in m) { if (typeof m[k] === "number") { return k; } }
    }
    return null;
  }
  function refreshSummary() {
    var asOf = state.asOf, since = state.since;
    Promise.all([
      getJSON("/v1/bulk/wards.json" + q(asOf)),
      since ? getJSON("/v1/bulk/wards.json" + q(since)) : Promise.resolve(null)
    ]).then(function (res) {
      if (asOf !== state.asOf || since !== state.since) { return; } // a newer choice is on its way
      var now = res[0], before = res[1];
      state.wards = now;
      var counts = {};
      now.forEach(function (w) { var l = w.level == null ? 0 : w.level; counts[l] = (counts[l] || 0) + 1; });
      var prev = {};
      (before || []).forEach(function (w) { prev[w.unit_id] = w; });
      var raised = [], lowered = [], rising = [];
      var metric = primaryMetric(now);
      now.forEach(function (w) {
        var p = prev[w.unit_id];
        if (!p || p.level == null || w.level == null) { return; }
        if (w.level > p.level) { raised.push(w); } else if (w.level < p.level) { lowered.push(w); }
        var dm = metric ? ((w.metrics || {})[metric] || 0) - ((p.metrics || {})[metric] || 0) : 0;
        rising.push({ w: w, dl: w.level - p.level, dm: dm });
      });
      rising.sort(function (a, b) { return (b.dl - a.dl) || (b.dm - a.dm); });
      var map = state.map;
      map.setFilter("changes-raised", ["in", ["get", "unit_id"], ["literal", raised.map(function (w) { return w.unit_id; })]]);
      map.setFilter("changes-lowered", ["in", ["get", "unit_id"], ["literal", lowered.map(function (w) { return w.unit_id; })]]);
      var html = "<h4>Tổng quan phường/xã / Wards</h4><table class='counts'>";
      state.legend.forEach(function (l) {
        html += "<tr><td><i style='background:" + esc(l.colour) + "'></i>" + esc(l.vi) + "</td><td data-level='" + l.level + "'>" + (counts[l.level] || 0) + "</td></tr>";
      });
      html += "</table>";
      if (before) {
        html += "<p id='changes'>So với " + esc(since) + " / since: <b class='up'>▲ " + raised.length + "</b> tăng / raised · <b class='down'>▼ " +
          lowered.length + "</b> giảm / lowered</p>";
        var top = rising.filter(function (r) { return r.dl > 0 || r.dm > 0; }).slice(0, 5);
        if (top.length) {
          html += "<h4>Tăng nhanh nhất / Top rising</h4><ol class='rising'>" + top.map(function (r) {
            return "<li><a href='#' data-unit='" + esc(r.w.unit_id) + "'>" + esc(r.w.name) + "</a> " +
              (r.dl ? "<b class='up'>+" + r.dl + " cấp</b> " : "") + (metric ? "<span class='muted'>" + (r.dm >= 0 ? "+" : "") + fmt(r.dm) + "</span>" : "") + "</li>";
          }).join("") + "</ol>" + (metric ? "<div class='muted small'>" + esc(metric) + "</div>" : "");
        }
      }
      var cur = state.current;
      if (cur) {
        var made = cur.created_at ? new Date(cur.created_at) : null;
        var hours = made ? Math.round((Date.now() - made.getTime()) / 36e5) : null;
        html += "<p class='fresh" + (cur.stale ? " stale" : "") + "'>Dữ liệu đến / Data as of <b>" + esc(cur.as_of.slice(0, 10)) + "</b>" +
          (made ? "<br>tính lúc / scored " + esc(made.toLocaleString("vi-VN", { timeZone: "Asia/Ho_Chi_Minh" })) + " (" + hours + " giờ trước / h ago)" : "") +
          (cur.stale ? "<br><b>Dữ liệu cũ: kho dữ liệu không truy cập được / stale: store unreachable</b>" : "") + "</p>";
      }
      var box = document.getElementById("summary");
      box.innerHTML = html;
      box.querySelectorAll("a[data-unit]").forEach(function (a) {
        a.addEventListener("click", function (ev) { ev.preventDefault(); goToWard(a.getAttribute("data-unit")); });
      });
      var head = document.getElementById("snapshot");
      var shown = asOf ? state.snapshots[selectedIndex()] : cur;
      if (shown) { head.textContent = "snapshot " + shown.snapshot_id + " · ngày / as of " + shown.as_of.slice(0, 10); }
      body.setAttribute("data-summary", "ready");
    }).catch(function (e) { setError(String(e)); });
  }

  // --- search ------------------------------------------------------------------------------------------
  document.getElementById("search").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = document.getElementById("q").value.trim();
    var msg = document.getElementById("search-msg");
    if (!text) { return; }
    var key = fold(text);
    var hits = state.wards.filter(function (w) { return fold(w.name) === key; });
    if (!hits.length) { hits = state.wards.filter(function (w) { return fold(w.name).indexOf(key) >= 0; }); }
    if (hits.length) {
      msg.textContent = hits.length > 1 ? hits.length + " phường khớp / wards match: " + hits.map(function (w) { return w.name; }).join(", ") : "";
      goToWard(hits[0].unit_id);
      return;
    }
    getJSON("/v1/geocode?address=" + encodeURIComponent(text)).then(function (g) {
      if (g.lon == null || g.tier === "unmatched") { msg.textContent = "Không tìm thấy / Not found"; return; }
      msg.textContent = (g.normal || text) + " (" + g.tier + ")";
      state.map.flyTo({ center: [g.lon, g.lat], zoom: g.tier === "ward_centroid" ? 13 : 17 });
      if (g.ward_id) { explain("ward", g.ward_id); }
    }).catch(function (e) {
      msg.textContent = e.status === 401 || e.status === 403
        ? "Tìm theo địa chỉ cần đăng nhập / address search needs sign-in"
        : "Không tìm thấy / Not found";
    });
  });
  function goToWard(unitId) {
    getJSON("/v1/geojson/wards?ward=" + encodeURIComponent(unitId) + (state.asOf ? "&as_of=" + state.asOf : "")).then(function (fc) {
      var b = [180, 90, -180, -90];
      (function walk(c) {
        if (typeof c[0] === "number") {
          b = [Math.min(b[0], c[0]), Math.min(b[1], c[1]), Math.max(b[2], c[0]), Math.max(b[3], c[1])];
        } else { c.forEach(walk); }
      })(fc.features.map(function (f) { return f.geometry.coordinates; }));
      if (b[0] <= b[2]) { state.map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: 40, maxZoom: 15 }); }
    });
    explain("ward", unitId);
  }

  // --- click: what a unit's level is and why -----------------------------------------------------------
  function onClick(e) {
    var hits = state.map.queryRenderedFeatures(e.point, { layers: clickableLayers() });
    if (!hits.length) { return; }
    var f = hits[0], kind = null;
    CLICKABLE.forEach(function (c) { if (c[0] === f.layer.id) { kind = c[1]; } });
    if (kind === "household") { showHousehold(f.properties); return; }
    explain(kind === "h3" ? h3Type(String(f.properties.unit_id)) : kind, f.properties.unit_id);
  }
  function showHousehold(p) {
    var flags = String(p.flags || "").split(";").filter(Boolean).map(function (c) { return "<li>" + esc(FLAGS[c] || c) + "</li>"; }).join("");
    openInfo("<h3>Hộ gia đình / Household</h3><span class='lvl' style='background:" + esc(levelColour(p.level)) + "'>Cấp / Level " + esc(p.level) + "</span>" +
      (flags ? "<h4>Cần theo dõi / Follow-up</h4><ul>" + flags + "</ul>" : "") +
      "<p class='muted small'>Danh sách hộ của phường: xuất tại /v1/exports/households / the ward's list: export</p>", "household");
  }
  function openInfo(html, unitId) {
    document.getElementById("info-body").innerHTML = html;
    document.getElementById("info").hidden = false;
    body.setAttribute("data-selected", unitId);
  }
  document.getElementById("info-close").addEventListener("click", function () {
    document.getElementById("info").hidden = true;
    body.removeAttribute("data-selected");
  });
  function explain(type, unitId) {
    var base = "/v1/units/" + encodeURIComponent(type) + "/" + encodeURIComponent(unitId);
    Promise.all([getJSON(base + q(state.asOf)), getJSON(base + "/history" + q(state.asOf)).catch(function () { return null; })]).then(function (res) {
      var a = res[0], h = res[1];
      var reasons = (a.reasons.vi || []).map(function (t, i) {
        return "<li>" + esc(t) + "<br><span class='muted'>" + esc((a.reasons.en || [])[i]) + "</span></li>";
      }).join("");
      var metrics = Object.keys(a.metrics || {}).map(function (k) {
        return "<tr><td>" + esc(k) + "</td><td>" + fmt(a.metrics[k]) + "</td></tr>";
      }).join("");
      var pending = a.pending
        ? "<p class='pending'>Sắp nâng lên / pending raise: <span class='lvl' style='background:" + esc(a.pending.colour) + "'>" + esc(a.pending.label.vi) +
          "</span> <span class='muted'>" + esc(a.pending.label.en) + (a.pending.effective_at ? " · từ / from " + esc(a.pending.effective_at.slice(0, 10)) : "") + "</span></p>"
        : "";
      openInfo(
        "<h3>" + esc(a.unit.name || a.unit.id) + "</h3>" +
        "<span class='lvl' style='background:" + esc(a.colour) + "'>" + esc(a.label.vi) + "</span> <span class='muted'>" + esc(a.label.en) + "</span>" +
        (a.suppressed ? "<p class='muted'>Ẩn vì quá ít hộ / hidden: too few households</p>" : "") + pending +
        (reasons ? "<h4>Lý do / Reasons</h4><ul class='reasons'>" + reasons + "</ul>" : "") +
        (h && h.series && h.series.length ? "<h4>Diễn biến / Trend</h4>" + trend(h.series) : "") +
        (metrics ? "<h4>Chỉ số / Metrics</h4><table class='metrics'>" + metrics + "</table>" : "") +
        (type === "ward" && state.map.getSource("households")
          ? "<h4>Danh sách hộ / Household list</h4><p class='exports'>" +
            [["xlsx", "XLSX"], ["csv", "CSV"], ["map.png", "Bản đồ in / printable map"]].map(function (x) {
              return "<button type='button' data-export='" + x[0] + "'>" + x[1] + "</button>";
            }).join(" ") + "</p>"
          : "") +
        "<div class='muted small'>" + esc(a.profile.id) + " " + esc(a.profile.version) + " · snapshot " + esc(a.snapshot_id) + " · " + esc(a.as_of.slice(0, 10)) + "</div>",
        unitId
      );
      document.querySelectorAll("#info button[data-export]").forEach(function (b) {
        b.addEventListener("click", function () { download(unitId, b.getAttribute("data-export")); });
      });
    }).catch(function (e) { openInfo("<p>" + esc(String(e)) + "</p>", unitId); });
  }
  // the ward's household list (roles with household access): fetched with the key, saved as a file
  function download(wardId, kind) {
    var url = "/v1/exports/households" + (kind === "map.png" ? "/map.png" : "." + kind) +
      "?ward=" + encodeURIComponent(wardId) + (state.asOf ? "&as_of=" + state.asOf : "");
    fetch(url, { headers: headers() }).then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      var name = /filename\*=UTF-8''([^;]+)/.exec(r.headers.get("Content-Disposition") || "");
      return r.blob().then(function (b) { return [b, name ? decodeURIComponent(name[1]) : "danh-sach-ho"]; });
    }).then(function (res) {
      var a = document.createElement("a");
      a.href = URL.createObjectURL(res[0]);
      a.download = res[1];
      document.body.appendChild(a);
      a.click();
      setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
    }).catch(function (e) { document.getElementById("search-msg").textContent = "Xuất danh sách / export: " + e.message; });
  }
  function trend(series) {
    var pts = series.slice(-12), w = 26, hgt = 60;
    var svg = "<svg class='trend' width='" + pts.length * w + "' height='" + (hgt + 16) + "' role='img' aria-label='Diễn biến cấp độ / level trend'>";
    pts.forEach(function (p, i) {
      var lv = p.level == null ? 0 : p.level, bar = lv ? lv * hgt / 4 : 4;
      svg += "<rect x='" + (i * w + 3) + "' y='" + (hgt - bar) + "' width='" + (w - 6) + "' height='" + bar + "' fill='" + esc(p.colour) + "'><title>" +
        esc(p.as_of) + ": " + (p.level == null ? "—" : p.level) + "</title></rect>" +
        "<text x='" + (i * w + w / 2) + "' y='" + (hgt + 12) + "' text-anchor='middle'>" + esc(p.as_of.slice(5)) + "</text>";
    });
    return svg + "</svg>";
  }
})();
