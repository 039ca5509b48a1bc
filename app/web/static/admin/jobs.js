// Issuing a campaign to a saved segment, and the background job's progress. Used from a
// campaign's row (#campaigns/<id>/segment) and from a segment's row (#marketing/issue/<id>).
//   issueForm(ctx, {campaigns, segments, campaignId?, segmentId?}) -> a form that picks what
//   is not fixed, sends POST /campaigns/{id}/issue {"segment_id"} (one Idempotency-Key per
//   choice, so a retry after a lost answer starts no second job) and follows the job.
//   jobProgress(api, jobId) -> an element that polls GET /jobs/{id} until done or failed.
import { newKey } from '/static/common/api.js';
import { addMessages, errorText, t } from '/static/common/i18n.js';
import { h, mount, toast } from '/static/common/ui.js';
import { field } from './kit.js';

addMessages({
  zh: {
    'a.j.title': '发券任务', 'a.j.campaign': '活动', 'a.j.segment': '人群', 'a.j.issue': '开始发券',
    'a.j.started': '发券任务已开始', 'a.j.running': '进行中：{done} / {total}', 'a.j.done': '已完成：{done} / {total}',
    'a.j.failed': '任务失败：{done} / {total}', 'a.j.issued': '已发 {n} 张', 'a.j.skipped': '跳过 {n} 位（已达限领、已发完或活动已停）',
    'a.j.progress': '发券进度', 'a.j.noSegments': '还没有保存的人群：先在“营销”里建一个', 'a.j.noCampaigns': '没有进行中的活动',
    'a.j.note': '按人群当前的成员发券；同一任务不会给同一会员发两次，活动的总量和每人限领照常生效。',
  },
  en: {
    'a.j.title': 'Issue job', 'a.j.campaign': 'Campaign', 'a.j.segment': 'Segment', 'a.j.issue': 'Start issuing',
    'a.j.started': 'Issuing started', 'a.j.running': 'Running: {done} of {total}', 'a.j.done': 'Done: {done} of {total}',
    'a.j.failed': 'Failed: {done} of {total}', 'a.j.issued': '{n} issued', 'a.j.skipped': '{n} skipped (limit reached, sold out or campaign stopped)',
    'a.j.progress': 'Issuing progress', 'a.j.noSegments': 'No saved segment yet: build one under Marketing', 'a.j.noCampaigns': 'No running campaign',
    'a.j.note': 'Issues to the segment\'s members as they are now; one job never issues twice to a member, and the campaign\'s quantity and per-member limit hold.',
  },
});

// How often the page asks for a running job's progress.
const POLL_MS = 400;

export function jobProgress(api, jobId) {
  const bar = h('progress', { id: `job-${jobId}-bar`, max: '1', value: '0', 'aria-label': t('a.j.progress') });
  const line = h('p', { 'data-field': 'status' });
  const counts = h('p.muted', { 'data-field': 'counts' });
  const box = h('div.job', { 'data-job': jobId, 'data-status': 'running', role: 'status', 'aria-live': 'polite' }, bar, line, counts);
  const show = (job) => {
    box.dataset.status = job.status;
    box.dataset.issued = String(job.issued ?? 0);
    box.dataset.skipped = String(job.skipped ?? 0);
    bar.max = Math.max(1, job.total || 0);
    bar.value = job.done || 0;
    line.textContent = t(`a.j.${job.status === 'running' ? 'running' : job.status}`, { done: job.done ?? 0, total: job.total ?? 0 });
    counts.textContent = `${t('a.j.issued', { n: job.issued ?? 0 })} · ${t('a.j.skipped', { n: job.skipped ?? 0 })}`;
  };
  show({ status: 'running', total: 0, done: 0, issued: 0, skipped: 0 });
  const poll = async () => {
    // The operator went elsewhere: nobody reads it any more.
    if (!box.isConnected && box.dataset.started) return;
    box.dataset.started = '1';
    try {
      const job = await api.get(`/jobs/${jobId}`);
      show(job);
      if (job.status === 'running') setTimeout(poll, POLL_MS);
    } catch (err) {
      if (err.network) { setTimeout(poll, POLL_MS * 5); return; }
      line.textContent = errorText(err);
      box.dataset.status = 'error';
    }
  };
  // First ask once the box is in the page (the caller mounts it right away).
  setTimeout(poll, 0);
  return box;
}

export function issueForm(ctx, { campaigns, segments, campaignId = null, segmentId = null, idPrefix = 'j' }) {
  const { api } = ctx;
  const live = campaigns.filter((c) => c.status === 'active' && new Date(c.valid_until) > new Date());
  const out = h('div', { id: `${idPrefix}-outcome` });
  const pickCampaign = campaignId ? null
    : field(`${idPrefix}-campaign`, t('a.j.campaign'), { options: live.map((c) => [c.id, c.name]) });
  const pickSegment = segmentId ? null
    : field(`${idPrefix}-segment`, t('a.j.segment'), { options: segments.map((s) => [s.id, s.name]) });
  if ((pickCampaign && !live.length) || (pickSegment && !segments.length)) {
    return h('p.muted', { text: pickCampaign && !live.length ? t('a.j.noCampaigns') : t('a.j.noSegments') });
  }
  let key = null; let keyFor = '';
  const submit = async (event) => {
    event.preventDefault();
    const cid = campaignId || pickCampaign[0].value;
    const sid = segmentId || pickSegment[0].value;
    // The same choice sent again (a lost answer) repeats its key: the server answers the
    // first job again instead of starting a second.
    if (keyFor !== `${cid}/${sid}`) { key = newKey(); keyFor = `${cid}/${sid}`; }
    const button = event.currentTarget.querySelector('[type=submit]');
    button.disabled = true;
    try {
      const res = await api.post(`/campaigns/${cid}/issue`, { segment_id: sid }, { idempotencyKey: key });
      key = null; keyFor = '';
      toast(t('a.j.started'), 'ok');
      mount(out, jobProgress(api, res.job_id));
    } catch (err) {
      mount(out, h('p.error', { role: 'alert', text: errorText(err) }));
    } finally { button.disabled = false; }
  };
  return h('form', { id: `${idPrefix}-form`, novalidate: true, onsubmit: submit },
    h('div.row', {},
      pickCampaign ? h('div.grow', {}, pickCampaign[1]) : null,
      pickSegment ? h('div.grow', {}, pickSegment[1]) : null,
      h('button.btn', { type: 'submit', text: t('a.j.issue') })),
    h('p.muted', { text: t('a.j.note') }),
    out);
}
