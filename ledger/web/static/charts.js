// Charts of the evaluation page, drawn from the API's own JSON (the session cookie authenticates
// these GETs). Money arrives in øre and is shown in kroner with Danish separators.
(function () {
  "use strict";
  const charts = [];
  const kr = (ore) => (ore / 100).toLocaleString("da-DK", { minimumFractionDigits: 2, maximumFractionDigits: 2 }) + " kr.";
  const palette = ["#1f5f8b", "#c0392b", "#27ae60", "#8e44ad", "#d68910", "#17a589", "#7f8c8d"];
  async function json(url) {
    const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!r.ok) throw new Error(url + ": " + r.status);
    return r.json();
  }
  function chart(id, config) {
    const el = document.getElementById(id);
    if (!el) return;
    config.options = Object.assign({ animation: false, responsive: true, maintainAspectRatio: false,
      plugins: { legend: { position: "bottom" } } }, config.options || {});
    charts.push(new Chart(el, config));
    el.dataset.drawn = "1";
  }
  async function draw() {
    charts.splice(0).forEach((c) => c.destroy());
    const box = document.getElementById("charts");
    if (!box || typeof Chart === "undefined") return;
    const m = encodeURIComponent(box.dataset.municipality);
    const k = box.dataset.knownAt ? "&known_at=" + encodeURIComponent(box.dataset.knownAt) : "";
    const [series, sales, offers] = await Promise.all([
      json(`/timeline/series?municipality=${m}${k}`), json(`/evaluation/sales?municipality=${m}`),
      json(`/evaluation/offers?municipality=${m}`)]);
    const months = series.months.map((x) => x.month);
    chart("chart-buyers", { type: "line", data: { labels: months, datasets: [
      { label: "buyers", data: series.months.map((x) => x.buyers), borderColor: palette[0] },
      { label: "citizens with grants", data: series.months.map((x) => x.citizens_with_active_grants), borderColor: palette[1] }] } });
    chart("chart-flows", { type: "bar", data: { labels: months, datasets: [
      { label: "orders", data: series.months.map((x) => x.orders_placed), backgroundColor: palette[0] },
      { label: "deliveries", data: series.months.map((x) => x.deliveries), backgroundColor: palette[2] },
      { label: "minutes", data: series.months.map((x) => x.minutes_delivered), type: "line", borderColor: palette[4], yAxisID: "y1" }] },
      options: { scales: { y1: { position: "right", grid: { drawOnChartArea: false } } } } });
    const items = [...new Set(sales.sales.map((s) => s.offer_id))];
    const saleMonths = [...new Set(sales.sales.map((s) => s.month))].sort();
    chart("chart-revenue", { type: "bar", data: { labels: saleMonths, datasets: items.map((item, i) => ({
      label: item, backgroundColor: palette[i % palette.length], data: saleMonths.map((mo) => sales.sales
        .filter((s) => s.month === mo && s.offer_id === item).reduce((a, s) => a + (s.invoiced_gross || 0) - (s.credited_gross || 0), 0) / 100) })) },
      options: { scales: { x: { stacked: true }, y: { stacked: true, ticks: { callback: (v) => kr(v * 100) } } } } });
    const sum = (x, group) => (x.granted_minutes || []).reduce((a, g) => a + ((g[group] || {}).weekly_minutes || 0), 0);
    chart("chart-granted", { type: "line", data: { labels: months, datasets: [
      { label: "buyers: weekly granted minutes", data: series.months.map((x) => sum(x, "buyers")), borderColor: palette[0] },
      { label: "non-buyers: weekly granted minutes", data: series.months.map((x) => sum(x, "non_buyers")), borderColor: palette[6] }] } });
    const byOffer = {};
    offers.offers.forEach((o) => (byOffer[o.offer_id] = byOffer[o.offer_id] || []).push(o));
    const datasets = [];
    Object.entries(byOffer).forEach(([id, vs], i) => {
      const c = palette[i % palette.length];
      datasets.push({ label: id + " weekday price", stepped: true, borderColor: c, data: vs.map((v) => ({ x: v.valid_from, y: v.price_weekday_day / 100 })) });
      datasets.push({ label: id + " weekday full cost", stepped: true, borderDash: [5, 4], borderColor: c, data: vs.map((v) => ({ x: v.valid_from, y: v.cost_weekday_day / 100 })) });
    });
    const dates = [...new Set(offers.offers.map((o) => o.valid_from))].sort();
    chart("chart-prices", { type: "line", data: { labels: dates, datasets },
      options: { parsing: { xAxisKey: "x", yAxisKey: "y" }, scales: { y: { ticks: { callback: (v) => kr(v * 100) } } } } });
    box.dataset.ready = "1";
  }
  document.addEventListener("DOMContentLoaded", () => draw().catch((e) => { const b = document.getElementById("charts"); if (b) b.dataset.error = String(e); }));
  document.addEventListener("htmx:afterSettle", () => draw().catch(() => {}));
})();
