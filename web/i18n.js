// Chinese (zh-CN) by default, English switchable; the choice is remembered.
const dict = {
  zh: {
    title: '网格化管理', 'view.viewer': '地图', 'view.dispatch': '调度', 'view.dashboard': '统计',
    'chart.daily': '每日受理与办结', 'chart.colours': '未办结事件时限', 'chart.categories': '未办结事件类别',
    'chart.communities': '各社区按时办结率与满意度', 'chart.hint': '点击图表可在地图上筛选。', received: '受理', closed: '办结',
    'on_time_rate': '按时办结率', 'avg_satisfaction': '平均满意度', 'total.received': '受理总数', 'total.open': '未办结',
    'total.overdue': '超时', 'total.on_time_rate': '按时办结率', filters: '筛选', category: '类别', status: '状态',
    colour: '时限', from: '起', to: '止', all: '全部', none: '无', choropleth: '分级设色', statistic: '指标',
    'stat.open': '未办结', 'stat.received': '受理量', 'stat.overdue': '超时', 'stat.on_time_rate': '按时办结率',
    locate: '定位', go: '定位', 'hint.click': '在地图上点击，或输入坐标。', live: '实时事件',
    'colour.on_track': '正常', 'colour.near_due': '临期', 'colour.due_today': '今日到期', 'colour.overdue': '超时', 'colour.none': '未派遣',
    'level.district': '区', 'level.street': '街道', 'level.community': '社区', 'level.grid': '网格', 'level.micro_grid': '微网格',
    covered: '属地网格', outside: '不在任何网格内：已指派最近网格', distance: '距离', people: '负责人', stations: '最近站点', 'stations.count': '站点',
    'new.incident': '在此上报事件', description: '描述', 'reporter.phone': '报告人电话', submit: '上报', 'created': '已上报',
    incident: '事件', history: '处置记录', note: '备注', reason: '原因', satisfaction: '满意度', 'grid.code': '网格编码',
    connected: '已连接', disconnected: '已断开', 'new.arrival': '新事件', grids: '网格', 'station.kind': '站点类型',
    due: '时限', assignee: '网格员', 'action.failed': '操作失败', 'locate.failed': '定位失败', loading: '加载中…',
    'action.register': '登记', 'action.reject': '不予受理', 'action.dispatch': '派遣', 'action.accept': '签收',
    'action.return': '退回', 'action.escalate': '上报上级', 'action.resolve': '处置反馈', 'action.send_back': '返工',
    'action.verify': '核查', 'action.close': '结案', 'action.reopen': '重新办理', 'action.follow_up': '回访',
    'st.reported': '已上报', 'st.registered': '已登记', 'st.dispatched': '已派遣', 'st.accepted': '已签收', 'st.resolved': '已处置',
    'st.verified': '已核查', 'st.closed': '已结案', 'st.rejected': '不予受理', 'st.returned': '已退回', 'st.escalated': '已上报上级',
    'st.reopened': '重新办理',
    'kind.grid_station': '网格站', 'kind.service_center': '服务中心', 'kind.mediation_room': '调解室',
    'kind.opinion_point': '民意收集点', 'kind.volunteer_station': '志愿服务站', 'kind.veterans_station': '退役军人服务站',
  },
  en: {
    title: 'Grid governance', 'view.viewer': 'Map', 'view.dispatch': 'Dispatch', 'view.dashboard': 'Dashboard',
    'chart.daily': 'Received and closed per day', 'chart.colours': 'Open incidents by deadline', 'chart.categories': 'Open incidents by category',
    'chart.communities': 'On-time rate and satisfaction per community', 'chart.hint': 'Click a chart to filter the map.', received: 'Received', closed: 'Closed',
    'on_time_rate': 'On-time rate', 'avg_satisfaction': 'Satisfaction', 'total.received': 'Received', 'total.open': 'Open',
    'total.overdue': 'Overdue', 'total.on_time_rate': 'On-time rate', filters: 'Filters', category: 'Category',
    status: 'Status', colour: 'Deadline', from: 'From', to: 'To', all: 'All', none: 'None', choropleth: 'Choropleth',
    statistic: 'Statistic', 'stat.open': 'Open', 'stat.received': 'Received', 'stat.overdue': 'Overdue',
    'stat.on_time_rate': 'On-time rate', locate: 'Locate', go: 'Go', 'hint.click': 'Click the map or type coordinates.',
    live: 'Live incidents', 'colour.on_track': 'On track', 'colour.near_due': 'Near due', 'colour.due_today': 'Due today',
    'colour.overdue': 'Overdue', 'colour.none': 'Not dispatched', 'level.district': 'District', 'level.street': 'Street',
    'level.community': 'Community', 'level.grid': 'Grid', 'level.micro_grid': 'Micro-grid', covered: 'Responsible grid',
    outside: 'Outside every grid: the nearest grid is assigned', distance: 'Distance', people: 'Responsible people',
    stations: 'Nearest stations', 'stations.count': 'stations', 'new.incident': 'Report an incident here', description: 'Description',
    'reporter.phone': 'Reporter phone', submit: 'Report', created: 'Reported', incident: 'Incident', history: 'History',
    note: 'Note', reason: 'Reason', satisfaction: 'Satisfaction', 'grid.code': 'Grid code', connected: 'live',
    disconnected: 'offline', 'new.arrival': 'New incident', grids: 'Grids', 'station.kind': 'Station kinds', due: 'Due',
    assignee: 'Worker', 'action.failed': 'Action failed', 'locate.failed': 'Locate failed', loading: 'Loading…',
    'action.register': 'Register', 'action.reject': 'Reject', 'action.dispatch': 'Dispatch', 'action.accept': 'Accept',
    'action.return': 'Return', 'action.escalate': 'Escalate', 'action.resolve': 'Resolve', 'action.send_back': 'Send back',
    'action.verify': 'Verify', 'action.close': 'Close', 'action.reopen': 'Reopen', 'action.follow_up': 'Follow up',
    'st.reported': 'reported', 'st.registered': 'registered', 'st.dispatched': 'dispatched', 'st.accepted': 'accepted',
    'st.resolved': 'resolved', 'st.verified': 'verified', 'st.closed': 'closed', 'st.rejected': 'rejected',
    'st.returned': 'returned', 'st.escalated': 'escalated', 'st.reopened': 'reopened',
    'kind.grid_station': 'Grid station', 'kind.service_center': 'Service centre', 'kind.mediation_room': 'Mediation room',
    'kind.opinion_point': 'Opinion point', 'kind.volunteer_station': 'Volunteer station', 'kind.veterans_station': 'Veterans station',
  },
};

let lang = localStorage.getItem('gridd.lang') || 'zh';

export function t(key) {
  return (dict[lang] && dict[lang][key]) || dict.zh[key] || key;
}
export function language() { return lang; }
export function setLanguage(next) {
  lang = next === 'en' ? 'en' : 'zh';
  localStorage.setItem('gridd.lang', lang);
  document.documentElement.lang = lang === 'en' ? 'en' : 'zh-CN';
  applyStatic();
}
/** Translate every element marked data-i18n. */
export function applyStatic(root = document) {
  root.querySelectorAll('[data-i18n]').forEach((el) => { el.textContent = t(el.dataset.i18n); });
}
