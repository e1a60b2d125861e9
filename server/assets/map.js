// Xuncha dashboard map (issue 13): draws #map[data-map] (built by server/src/http/dashboard/map.rs)
// with the vendored Leaflet. Positions arrive as [lat, lng] already in the tiles' datum. Text is
// set with textContent only (names and labels come from user data).
"use strict";
(function () {
  var el = document.getElementById("map");
  if (!el || !window.L) { return; }
  var data;
  try { data = JSON.parse(el.getAttribute("data-map")); } catch (e) { return; }
  var fallback = document.querySelector(".map-fallback");
  if (fallback) { fallback.classList.add("has-js-map"); }
  el.classList.add("ready");
  var map = L.map(el, { zoomSnap: 0.5, maxZoom: 20 });
  map.attributionControl.setPrefix("Leaflet");
  (data.tiles || []).forEach(function (t) {
    L.tileLayer(t.url, { subdomains: t.subdomains, attribution: t.attribution, maxZoom: 20, maxNativeZoom: t.max_zoom }).addTo(map);
  });
  var bounds = L.latLngBounds([]);
  (data.estates || []).forEach(function (e) {
    var estate = L.polygon(e.rings, { className: e.exited ? "estate exited" : "estate", color: "#5d7d3f", weight: 2, fillColor: "#dfe9d3", fillOpacity: data.tiles.length ? 0.15 : 0.6 }).addTo(map);
    estate.bindTooltip(e.name, { className: "estate-label", direction: "top" });
    bounds.extend(estate.getBounds());
    (e.buildings || []).forEach(function (b) {
      var building = L.polygon(b.rings, { className: "building", color: "#6b5b45", weight: 1, fillColor: "#c9b99a", fillOpacity: 0.8 }).addTo(map);
      building.bindTooltip(b.label, { permanent: true, direction: "center", className: "building-label" });
    });
  });
  (data.groups || []).forEach(function (g) {
    var icon = document.createElement("div");
    icon.className = "case-marker" + (g.overdue ? " overdue" : "");
    icon.style.background = g.colour;
    icon.textContent = g.cases.length > 1 || g.building ? String(g.cases.length) : "";
    icon.title = g.title;
    // A building's marker sits above-right of its footprint's centre, clear of the label.
    var marker = L.marker([g.lat, g.lng], { icon: L.divIcon({ html: icon, className: "case-marker-icon", iconSize: [26, 26], iconAnchor: g.building ? [-8, 30] : [13, 13] }), title: g.title, keyboard: true }).addTo(map);
    var popup = document.createElement("div");
    var head = document.createElement("strong");
    head.textContent = g.title + "（" + g.cases.length + " 件" + (g.overdue ? "，" + g.overdue + " 件已超期" : "") + "）";
    popup.appendChild(head);
    var list = document.createElement("ul");
    list.className = "map-case-list";
    g.cases.forEach(function (c) {
      var li = document.createElement("li");
      var a = document.createElement("a");
      a.href = c.href;
      a.textContent = c.text;
      if (c.overdue) { li.className = "overdue"; }
      li.appendChild(a);
      list.appendChild(li);
    });
    popup.appendChild(list);
    marker.bindPopup(popup);
    bounds.extend([g.lat, g.lng]);
  });
  if (bounds.isValid()) { map.fitBounds(bounds, { padding: [20, 20] }); } else { map.setView([39.12, 117.2], 12); }
})();
