/** The web view's two pages. Static text only: every value the page shows is set by app.js through textContent. */

function shell(title: string, body: string, script: boolean): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<link rel="stylesheet" href="/ui/uplot.css">
<link rel="stylesheet" href="/ui/app.css">
</head>
<body>
${body}
${script ? '<script src="/ui/uplot.js"></script>\n<script src="/ui/app.js"></script>' : ''}
</body>
</html>
`;
}

export function loginPage(problem?: string): string {
  return shell(
    'switchyard: sign in',
    `<main class="login">
<h1>switchyard</h1>
<p>The web view needs the router's token: the file <code>token</code> in the state folder (<code>.switchyard/token</code>).</p>
${problem === undefined ? '' : `<p class="problem" role="alert">${problem}</p>`}
<form method="get" action="/ui/">
<label for="token">Token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Sign in</button>
</form>
</main>`,
    false,
  );
}

export function mainPage(): string {
  return shell(
    'switchyard',
    `<header class="top">
<h1>switchyard</h1>
<span id="generation" class="muted">loading…</span>
<span id="live" class="live" data-state="waiting">connecting</span>
</header>
<main id="services" aria-live="polite"></main>
<section class="history">
<h2>Policy history</h2>
<p id="history-error" class="problem" hidden></p>
<ol id="history"></ol>
</section>`,
    true,
  );
}
