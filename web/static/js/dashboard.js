// The dashboard's charts (Apache ECharts, served from this site). The data
// is the JSON of GET /api/v1/dashboard, embedded in the page in the
// data-dashboard attribute: no inline script (CSP), no second request.
(function () {
  "use strict";
  var root = document.getElementById("dashboard");
  if (!root || !window.echarts) return;
  var d = JSON.parse(root.getAttribute("data-dashboard"));
  // The page's language: labels in the data come translated with the page.
  var EN = document.documentElement.lang === "en";
  function t(zh, en) { return EN ? en : zh; }
  // fen → 万元 with two decimals, for display only (exact amounts are in
  // the tables and the .xlsx downloads).
  function wan(fen) { return Math.round(fen / 1e4) / 100; }
  var palette = ["#0b4a8b", "#1e6b3a", "#d08a00", "#b3261e", "#5b6470", "#6a3d9a", "#2a9d8f", "#e76f51"];
  var base = { color: palette, textStyle: { fontFamily: (EN ? "system-ui, Arial, " : "") + "PingFang SC, Microsoft YaHei, Noto Sans CJK SC, sans-serif" }, animation: false };
  var yuanAxis = { type: "value", name: t("万元", "10k yuan"), nameLocation: "end" };
  var yuanAxisBelow = { type: "value", name: t("万元", "10k yuan"), nameLocation: "middle", nameGap: 26 };

  var builders = {
    goals: function () {
      // Every goal, measured or not: an unmeasured one has no bar and says so.
      var goals = d.goals;
      return {
        tooltip: { trigger: "axis" },
        grid: { left: 150, right: 110, top: 20, bottom: 30 },
        xAxis: { type: "value", max: 100, name: "%" },
        yAxis: { type: "category", inverse: true, data: goals.map(function (g) { return g.label; }) },
        series: [{
          name: t("完成比例", "Progress"), type: "bar",
          data: goals.map(function (g) {
            return g.measured ? Math.round(g.value / g.target * 1000) / 10 : { value: 0, itemStyle: { color: "#5b6470" } };
          }),
          label: { show: true, position: "right", formatter: function (p) { var g = goals[p.dataIndex]; return g.measured ? g.value + " / " + g.target + " " + g.unit : t("平台未测量", "not measured by the platform"); } }
        }]
      };
    },
    pools: function () {
      var series = [];
      d.pools.forEach(function (p) {
        p.years.forEach(function (y) {
          if (!y.burn_down.length) return;
          var pts = [[y.year + "-01-01", wan(y.budget_fen)]];
          y.burn_down.forEach(function (b) { pts.push([b.date, wan(b.remaining_fen)]); });
          series.push({ name: p.name + " " + y.year, type: "line", step: "end", symbolSize: 4, data: pts });
        });
      });
      return {
        tooltip: { trigger: "axis" },
        legend: { top: 0 },
        grid: { left: 70, right: 20, top: 40, bottom: 30 },
        xAxis: { type: "time" },
        // Scaled to the data, so that a small draw on a large budget shows.
        yAxis: { type: "value", name: t("剩余（万元）", "Remaining (10k yuan)"), scale: true },
        series: series
      };
    },
    articles: function () { return money(d.by_article, false); },
    departments: function () { return money(d.by_department, true); },
    funnel: function () {
      return {
        tooltip: { trigger: "item", formatter: t("{b}：{c} 件", "{b}: {c}") },
        series: [{
          name: t("申请漏斗", "Application funnel"), type: "funnel", sort: "none", left: "10%", width: "80%", top: 10, bottom: 10, minSize: "8%",
          label: { show: true, position: "inside", formatter: "{b} {c}" },
          data: d.funnel.map(function (s) { return { name: s.name, value: s.count }; })
        }]
      };
    },
    cycle: function () {
      var c = d.cycle;
      return {
        tooltip: { trigger: "axis" },
        grid: { left: 60, right: 20, top: 30, bottom: 30 },
        xAxis: { type: "category", data: [t("中位数", "Median"), "P90", t("平均", "Mean"), t("现状平均", "Mean today")] },
        yAxis: { type: "value", name: t("天", "days") },
        series: [{
          name: t("提交→拨付（天）", "Submit → paid (days)"), type: "bar", label: { show: true, position: "top" },
          data: [c.median_days, c.p90_days, c.mean_days, { value: c.baseline_days, itemStyle: { color: "#5b6470" } }]
        }]
      };
    },
    offers: function () {
      var o = d.offers;
      return {
        tooltip: { trigger: "item", formatter: t("{b}：{c} 件（{d}%）", "{b}: {c} ({d}%)") },
        legend: { bottom: 0 },
        series: [{
          name: t("免申即享占比", "No-application share"), type: "pie", radius: ["40%", "70%"], label: { formatter: t("{b}\n{c} 件", "{b}\n{c}") },
          data: [{ name: t("免申即享", "No-application grants"), value: o.from_offers }, { name: t("填报申请", "Filed applications"), value: o.applications - o.from_offers }]
        }]
      };
    }
  };

  function money(lines, horizontal) {
    var names = lines.map(function (l) { return l.name; });
    var cat = { type: "category", data: names, axisLabel: { interval: 0, rotate: horizontal ? 0 : 30 } };
    var s = function (name, key) {
      return { name: name, type: "bar", stack: "money", data: lines.map(function (l) { return wan(l[key]); }) };
    };
    return {
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      legend: { top: 0 },
      grid: { left: horizontal ? 150 : 60, right: 20, top: 40, bottom: horizontal ? 40 : 70 },
      xAxis: horizontal ? yuanAxisBelow : cat,
      yAxis: horizontal ? cat : yuanAxis,
      series: [s(t("已拨付", "Paid"), "paid_fen"), s(t("已批准待拨付", "Approved, to pay"), "approved_fen"), s(t("拟支持及公示中", "Proposed or in public notice"), "proposed_fen")]
    };
  }

  var charts = [];
  root.querySelectorAll("[data-chart]").forEach(function (el) {
    var build = builders[el.getAttribute("data-chart")];
    if (!build) return;
    var chart = window.echarts.init(el, null, { renderer: "canvas" });
    chart.setOption(Object.assign({}, base, build()));
    el.setAttribute("data-rendered", "true");
    charts.push(chart);
  });
  var pending = 0;
  window.addEventListener("resize", function () {
    if (pending) return;
    pending = window.setTimeout(function () {
      pending = 0;
      charts.forEach(function (c) { c.resize(); });
    }, 150);
  });
})();
