
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'kubectl-gitops' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'kubectl-gitops'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'kubectl-gitops' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('diff', 'diff', [CompletionResultType]::ParameterValue, 'Show what applying the manifests under PATH would change in the cluster')
            [CompletionResult]::new('apply', 'apply', [CompletionResultType]::ParameterValue, 'Apply the manifests under PATH: show the plan, ask, apply in order, prune what left git')
            [CompletionResult]::new('reconcile', 'reconcile', [CompletionResultType]::ParameterValue, 'Keep the cluster in sync with a git repository, continuously')
            [CompletionResult]::new('controller', 'controller', [CompletionResultType]::ParameterValue, 'Reconcile every GitSync of a shard: many repositories and paths, one process')
            [CompletionResult]::new('get', 'get', [CompletionResultType]::ParameterValue, 'List GitSyncs: which are out of sync, and why')
            [CompletionResult]::new('sync', 'sync', [CompletionResultType]::ParameterValue, 'Ask the controller to reconcile a GitSync now (fetch included)')
            [CompletionResult]::new('suspend', 'suspend', [CompletionResultType]::ParameterValue, 'Stop reconciling a GitSync; its objects stay as they are')
            [CompletionResult]::new('resume', 'resume', [CompletionResultType]::ParameterValue, 'Reconcile a suspended GitSync again')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show the ApplySets you can see, or what the reconciler of one last did')
            [CompletionResult]::new('install', 'install', [CompletionResultType]::ParameterValue, 'Print the manifests that run the reconciler in a cluster')
            [CompletionResult]::new('pr', 'pr', [CompletionResultType]::ParameterValue, 'Open a pull request with the change under PATH and its cluster preview')
            [CompletionResult]::new('version', 'version', [CompletionResultType]::ParameterValue, 'Print the version, git commit and build target')
            [CompletionResult]::new('completion', 'completion', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'kubectl-gitops;diff' {
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Manifests as kubectl''s -f names them. One directory is the same as PATH: the whole set, pruning what it no longer renders. diff and apply also take files and several -f: their objects are planned together and nothing is pruned (their directory''s ApplySet tracks more than they hold; apply the directory to prune). pr takes one directory')
            [CompletionResult]::new('--filename', '--filename', [CompletionResultType]::ParameterName, 'Manifests as kubectl''s -f names them. One directory is the same as PATH: the whole set, pruning what it no longer renders. diff and apply also take files and several -f: their objects are planned together and nothing is pruned (their directory''s ApplySet tracks more than they hold; apply the directory to prune). pr takes one directory')
            [CompletionResult]::new('--ref', '--ref', [CompletionResultType]::ParameterName, 'The git revision to render: a branch, tag or commit (HEAD~2, ...). diff, apply and pr render the working tree without it; a reconciler fetches it at every interval, following a branch as it moves')
            [CompletionResult]::new('--applyset', '--applyset', [CompletionResultType]::ParameterName, 'Name of the ApplySet recording what one repository path manages (default: derived from the repository''s URL, the path and the target namespace, e.g. gitops-platform-deploy-prod-1a2b3c4d; `status` without it lists every set)')
            [CompletionResult]::new('--applyset-namespace', '--applyset-namespace', [CompletionResultType]::ParameterName, 'Namespace of the ApplySet''s parent Secret, which also holds a reconciler''s status ConfigMap, Lease and Events (default: the target namespace, -n or the context''s)')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Requests in flight at most (default: 32; for the controller, all syncs together: 64). The window that follows the API server stays below it')
            [CompletionResult]::new('--qps', '--qps', [CompletionResultType]::ParameterName, 'A client-side cap on requests per second (bursts may go to twice this). Without it the pace follows the API server: fewer requests in flight when it answers 429 Too Many Requests, more while it keeps up, never more than --concurrency')
            [CompletionResult]::new('--helm-binary', '--helm-binary', [CompletionResultType]::ParameterName, 'The helm program that renders Helm charts (default: $GITOPS_HELM, then `helm` on PATH; Helm 3.8 or later)')
            [CompletionResult]::new('--render-timeout', '--render-timeout', [CompletionResultType]::ParameterName, 'How long one render may take, helm and kustomize and what they fetch included. At the deadline their processes are killed and the render fails; nothing is applied or pruned')
            [CompletionResult]::new('--max-render-bytes', '--max-render-bytes', [CompletionResultType]::ParameterName, 'Most bytes one render may read from helm and kustomize, all processes together (e.g. 64Mi, 1Gi). Past it the process is killed and the render fails')
            [CompletionResult]::new('--max-render-objects', '--max-render-objects', [CompletionResultType]::ParameterName, 'Most objects one render may produce')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use (default: its current-context)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in: where objects that name none go, and where sets, GitSyncs and what a reconciler keeps are looked for (default: the context''s namespace)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in: where objects that name none go, and where sets, GitSyncs and what a reconciler keeps are looked for (default: the context''s namespace)')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'How long one request to the API server may go unanswered before it fails (e.g. 30s, 2m; 0 waits forever). Default: 10s to connect, 60s for an answer')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'How much to say on stderr, with kubectl''s levels: 1 to 5 the stages and their timing (a reconciler''s debug log), 6 every request to the API server, 8 their bodies too (Secret values and credentials scrubbed). -v is 1, -vv 2')
            [CompletionResult]::new('--v', '--v', [CompletionResultType]::ParameterName, 'How much to say on stderr, with kubectl''s levels: 1 to 5 the stages and their timing (a reconciler''s debug log), 6 every request to the API server, 8 their bodies too (Secret values and credentials scrubbed). -v is 1, -vv 2')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color output: auto (a terminal without NO_COLOR), always, never')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--base', '--base', [CompletionResultType]::ParameterName, 'The revision a change is measured against: the pull request''s target branch. diff marks each change "introduced" (the render differs from REV''s) or "drift" (REV renders it the same: the cluster changed), or with --offline compares with REV''s render; pr opens the pull request into REV (default: the current branch)')
            [CompletionResult]::new('--out', '--out', [CompletionResultType]::ParameterName, 'Also write the plan to this file (JSON, see docs/plan-format.md), for `kubectl gitops apply --plan`: no Secret value is in it, only digests. Not written when the plan has errors or conflicts')
            [CompletionResult]::new('--adopt', '--adopt', [CompletionResultType]::ParameterName, 'Move objects that are members of another ApplySet into this one. Without it they are refused (per object: the annotation kubectl-gitops.io/adopt: "true" in git)')
            [CompletionResult]::new('--prune-protected', '--prune-protected', [CompletionResultType]::ParameterName, 'Also prune Namespaces, CustomResourceDefinitions and PersistentVolumeClaims that left git (deleting them deletes everything in them)')
            [CompletionResult]::new('--force-conflicts', '--force-conflicts', [CompletionResultType]::ParameterName, 'Take ownership of fields another field manager owns (server-side apply''s force). Without it, as with kubectl, an object whose apply would change such fields is shown as a conflict, naming the managers and fields, and apply refuses the plan')
            [CompletionResult]::new('--rewrite-unstable', '--rewrite-unstable', [CompletionResultType]::ParameterName, 'Apply the fields a chart renders differently each time (a random password without `lookup`, a timestamp) even where they are live already. Without it such unstable fields seed new objects only, and the live value is kept')
            [CompletionResult]::new('--show-defaults', '--show-defaults', [CompletionResultType]::ParameterName, 'Print the fields the server defaults on objects being created (imagePullPolicy, dnsPolicy, ...) instead of one line counting them. Updates always show every change')
            [CompletionResult]::new('--verify-unchanged', '--verify-unchanged', [CompletionResultType]::ParameterName, 'Dry-run unchanged objects on the server too. By default an object whose live copy shows our last apply still in place (every value we send, every field we owned) is planned as unchanged without a dry-run')
            [CompletionResult]::new('--allow-remote-bases', '--allow-remote-bases', [CompletionResultType]::ParameterName, 'Build remote kustomize bases (https://host/org/repo//dir?ref=v1, git@host:org/repo, ssh://...) as `kubectl kustomize` does: fetched with kubectl-gitops''s own git client, no credential sent (ssh uses your own keys), checked like the repository, and shown in origins with the commit fetched. Without it a remote base is refused, naming the file and URL')
            [CompletionResult]::new('--show-secrets', '--show-secrets', [CompletionResultType]::ParameterName, 'Print Secret values instead of masking them')
            [CompletionResult]::new('--offline', '--offline', [CompletionResultType]::ParameterName, 'Compare the render of --base with that of --ref (default: the working tree) without contacting any cluster: objects only in --ref are creates, objects only in --base are prunes. Namespaces are compared as written')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kubectl-gitops;apply' {
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Manifests as kubectl''s -f names them. One directory is the same as PATH: the whole set, pruning what it no longer renders. diff and apply also take files and several -f: their objects are planned together and nothing is pruned (their directory''s ApplySet tracks more than they hold; apply the directory to prune). pr takes one directory')
            [CompletionResult]::new('--filename', '--filename', [CompletionResultType]::ParameterName, 'Manifests as kubectl''s -f names them. One directory is the same as PATH: the whole set, pruning what it no longer renders. diff and apply also take files and several -f: their objects are planned together and nothing is pruned (their directory''s ApplySet tracks more than they hold; apply the directory to prune). pr takes one directory')
            [CompletionResult]::new('--ref', '--ref', [CompletionResultType]::ParameterName, 'The git revision to render: a branch, tag or commit (HEAD~2, ...). diff, apply and pr render the working tree without it; a reconciler fetches it at every interval, following a branch as it moves')
            [CompletionResult]::new('--applyset', '--applyset', [CompletionResultType]::ParameterName, 'Name of the ApplySet recording what one repository path manages (default: derived from the repository''s URL, the path and the target namespace, e.g. gitops-platform-deploy-prod-1a2b3c4d; `status` without it lists every set)')
            [CompletionResult]::new('--applyset-namespace', '--applyset-namespace', [CompletionResultType]::ParameterName, 'Namespace of the ApplySet''s parent Secret, which also holds a reconciler''s status ConfigMap, Lease and Events (default: the target namespace, -n or the context''s)')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Requests in flight at most (default: 32; for the controller, all syncs together: 64). The window that follows the API server stays below it')
            [CompletionResult]::new('--qps', '--qps', [CompletionResultType]::ParameterName, 'A client-side cap on requests per second (bursts may go to twice this). Without it the pace follows the API server: fewer requests in flight when it answers 429 Too Many Requests, more while it keeps up, never more than --concurrency')
            [CompletionResult]::new('--helm-binary', '--helm-binary', [CompletionResultType]::ParameterName, 'The helm program that renders Helm charts (default: $GITOPS_HELM, then `helm` on PATH; Helm 3.8 or later)')
            [CompletionResult]::new('--render-timeout', '--render-timeout', [CompletionResultType]::ParameterName, 'How long one render may take, helm and kustomize and what they fetch included. At the deadline their processes are killed and the render fails; nothing is applied or pruned')
            [CompletionResult]::new('--max-render-bytes', '--max-render-bytes', [CompletionResultType]::ParameterName, 'Most bytes one render may read from helm and kustomize, all processes together (e.g. 64Mi, 1Gi). Past it the process is killed and the render fails')
            [CompletionResult]::new('--max-render-objects', '--max-render-objects', [CompletionResultType]::ParameterName, 'Most objects one render may produce')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use (default: its current-context)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in: where objects that name none go, and where sets, GitSyncs and what a reconciler keeps are looked for (default: the context''s namespace)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in: where objects that name none go, and where sets, GitSyncs and what a reconciler keeps are looked for (default: the context''s namespace)')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'How long one request to the API server may go unanswered before it fails (e.g. 30s, 2m; 0 waits forever). Default: 10s to connect, 60s for an answer')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'How much to say on stderr, with kubectl''s levels: 1 to 5 the stages and their timing (a reconciler''s debug log), 6 every request to the API server, 8 their bodies too (Secret values and credentials scrubbed). -v is 1, -vv 2')
            [CompletionResult]::new('--v', '--v', [CompletionResultType]::ParameterName, 'How much to say on stderr, with kubectl''s levels: 1 to 5 the stages and their timing (a reconciler''s debug log), 6 every request to the API server, 8 their bodies too (Secret values and credentials scrubbed). -v is 1, -vv 2')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color output: auto (a terminal without NO_COLOR), always, never')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'server: plan against the cluster and show everything, write nothing (--dry-run alone means this); client: render and list the objects without contacting the cluster; none: apply')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'How long --wait waits (e.g. 90s, 5m); for apply, also how long one Helm hook may run')
            [CompletionResult]::new('--plan', '--plan', [CompletionResultType]::ParameterName, 'Apply exactly the plan in this file (written by `kubectl gitops diff --out`): PATH is planned again with the file''s settings and applied only if every object still matches it (same render, same live object in the same version); otherwise nothing is written and each object that moved is named')
            [CompletionResult]::new('--expect-digest', '--expect-digest', [CompletionResultType]::ParameterName, 'Refuse the plan file unless its digest is this one (as a pull-request preview shows it)')
            [CompletionResult]::new('--max-prune', '--max-prune', [CompletionResultType]::ParameterName, 'The most objects one apply (or reconcile cycle) may prune: a count (5), a share of the set''s members (10%, rounded up) or unlimited. Over it nothing is pruned and everything else is applied; apply exits 3, a reconciler reports the cycle failed (status and a PruneBlocked Event) and retries')
            [CompletionResult]::new('--adopt', '--adopt', [CompletionResultType]::ParameterName, 'Move objects that are members of another ApplySet into this one. Without it they are refused (per object: the annotation kubectl-gitops.io/adopt: "true" in git)')
            [CompletionResult]::new('--prune-protected', '--prune-protected', [CompletionResultType]::ParameterName, 'Also prune Namespaces, CustomResourceDefinitions and PersistentVolumeClaims that left git (deleting them deletes everything in them)')
            [CompletionResult]::new('--force-conflicts', '--force-conflicts', [CompletionResultType]::ParameterName, 'Take ownership of fields another field manager owns (server-side apply''s force). Without it, as with kubectl, an object whose apply would change such fields is shown as a conflict, naming the managers and fields, and apply refuses the plan')
            [CompletionResult]::new('--rewrite-unstable', '--rewrite-unstable', [CompletionResultType]::ParameterName, 'Apply the fields a chart renders differently each time (a random password without `lookup`, a timestamp) even where they are live already. Without it such unstable fields seed new objects only, and the live value is kept')
            [CompletionResult]::new('--show-defaults', '--show-defaults', [CompletionResultType]::ParameterName, 'Print the fields the server defaults on objects being created (imagePullPolicy, dnsPolicy, ...) instead of one line counting them. Updates always show every change')
            [CompletionResult]::new('--verify-unchanged', '--verify-unchanged', [CompletionResultType]::ParameterName, 'Dry-run unchanged objects on the server too. By default an object whose live copy shows our last apply still in place (every value we send, every field we owned) is planned as unchanged without a dry-run')
            [CompletionResult]::new('--allow-remote-bases', '--allow-remote-bases', [CompletionResultType]::ParameterName, 'Build remote kustomize bases (https://host/org/repo//dir?ref=v1, git@host:org/repo, ssh://...) as `kubectl kustomize` does: fetched with kubectl-gitops''s own git client, no credential sent (ssh uses your own keys), checked like the repository, and shown in origins with the commit fetched. Without it a remote base is refused, naming the file and URL')
            [CompletionResult]::new('--show-secrets', '--show-secrets', [CompletionResultType]::ParameterName, 'Print Secret values instead of masking them')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Apply without asking (required when standard input is not a terminal)')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Apply without asking (required when standard input is not a terminal)')
            [CompletionResult]::new('--allow-empty', '--allow-empty', [CompletionResultType]::ParameterName, 'Allow applying a render with no objects, which prunes every member of the set')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'Wait until what was applied is ready (Deployments, StatefulSets, DaemonSets, Jobs, CRDs), or for sync until the controller has handled the request')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kubectl-gitops;reconcile' {
            [CompletionResult]::new('--repo', '--repo', [CompletionResultType]::ParameterName, 'The git repository: an https://, git:// or file:// URL, or a local path')
            [CompletionResult]::new('--ref', '--ref', [CompletionResultType]::ParameterName, 'The git revision to render: a branch, tag or commit (HEAD~2, ...). diff, apply and pr render the working tree without it; a reconciler fetches it at every interval, following a branch as it moves')
            [CompletionResult]::new('--path', '--path', [CompletionResultType]::ParameterName, 'Directory of the manifests inside the repository')
            [CompletionResult]::new('--interval', '--interval', [CompletionResultType]::ParameterName, 'Time between full cycles (fetch, plan, apply)')
            [CompletionResult]::new('--applyset', '--applyset', [CompletionResultType]::ParameterName, 'Name of the ApplySet recording what one repository path manages (default: derived from the repository''s URL, the path and the target namespace, e.g. gitops-platform-deploy-prod-1a2b3c4d; `status` without it lists every set)')
            [CompletionResult]::new('--applyset-namespace', '--applyset-namespace', [CompletionResultType]::ParameterName, 'Namespace of the ApplySet''s parent Secret, which also holds a reconciler''s status ConfigMap, Lease and Events (default: the target namespace, -n or the context''s)')
            [CompletionResult]::new('--max-prune', '--max-prune', [CompletionResultType]::ParameterName, 'The most objects one apply (or reconcile cycle) may prune: a count (5), a share of the set''s members (10%, rounded up) or unlimited. Over it nothing is pruned and everything else is applied; apply exits 3, a reconciler reports the cycle failed (status and a PruneBlocked Event) and retries')
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'Read the access token for an http(s) remote from this file (re-read at start only); $GITOPS_GIT_TOKEN works too. Sent as the password when the server asks; never logged')
            [CompletionResult]::new('--token-username', '--token-username', [CompletionResultType]::ParameterName, 'User name sent with the token (GitLab wants oauth2, Bitbucket x-token-auth)')
            [CompletionResult]::new('--debounce', '--debounce', [CompletionResultType]::ParameterName, 'Quiet time after a drift event before re-planning')
            [CompletionResult]::new('--drift', '--drift', [CompletionResultType]::ParameterName, 'What to do with a change made in the cluster outside git: `heal` puts it back; `report` leaves it and records it (status ConfigMap, a DriftDetected Event, the gitops_reconcile_drifted_objects metric). In both modes, what git changes still applies: a new commit''s changed, added and removed objects (an object git changes is applied whole, which also puts back its drift)')
            [CompletionResult]::new('--lease-name', '--lease-name', [CompletionResultType]::ParameterName, 'Name of the leader Lease (default: <applyset>-leader)')
            [CompletionResult]::new('--cache-dir', '--cache-dir', [CompletionResultType]::ParameterName, 'Where the git caches live (default: $KUBECTL_GITOPS_CACHE_DIR, else $XDG_CACHE_HOME/kubectl-gitops, else ~/.cache/kubectl-gitops)')
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Serve /healthz, /readyz and /metrics on this address')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log format on stderr')
            [CompletionResult]::new('--backoff', '--backoff', [CompletionResultType]::ParameterName, 'First retry delay after a failed cycle; doubles per failure')
            [CompletionResult]::new('--max-backoff', '--max-backoff', [CompletionResultType]::ParameterName, 'Longest retry delay after failures')
            [CompletionResult]::new('--fetch-timeout', '--fetch-timeout', [CompletionResultType]::ParameterName, 'Give up a fetch after this long')
            [CompletionResult]::new('--lease-duration', '--lease-duration', [CompletionResultType]::ParameterName, 'How long a leader''s claim lasts without renewal')
            [CompletionResult]::new('--identity', '--identity', [CompletionResultType]::ParameterName, 'This replica''s identity in the Lease and Events (default: $POD_NAME, else host-pid)')
            [CompletionResult]::new('--shutdown-grace', '--shutdown-grace', [CompletionResultType]::ParameterName, 'After SIGTERM, how long the cycle in progress may take to finish; past it no further write is sent, those in flight are answered (each is one request: no object is half written), and nothing is pruned')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Requests in flight at most (default: 32; for the controller, all syncs together: 64). The window that follows the API server stays below it')
            [CompletionResult]::new('--qps', '--qps', [CompletionResultType]::ParameterName, 'A client-side cap on requests per second (bursts may go to twice this). Without it the pace follows the API server: fewer requests in flight when it answers 429 Too Many Requests, more while it keeps up, never more than --concurrency')
            [CompletionResult]::new('--helm-binary', '--helm-binary', [CompletionResultType]::ParameterName, 'The helm program that renders Helm charts (default: $GITOPS_HELM, then `helm` on PATH; Helm 3.8 or later)')
            [CompletionResult]::new('--render-timeout', '--render-timeout', [CompletionResultType]::ParameterName, 'How long one render may take, helm and kustomize and what they fetch included. At the deadline their processes are killed and the render fails; nothing is applied or pruned')
            [CompletionResult]::new('--max-render-bytes', '--max-render-bytes', [CompletionResultType]::ParameterName, 'Most bytes one render may read from helm and kustomize, all processes together (e.g. 64Mi, 1Gi). Past it the process is killed and the render fails')
            [CompletionResult]::new('--max-render-objects', '--max-render-objects', [CompletionResultType]::ParameterName, 'Most objects one render may produce')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use (default: its current-context)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in: where objects that name none go, and where sets, GitSyncs and what a reconciler keeps are looked for (default: the context''s namespace)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in: where objects that name none go, and where sets, GitSyncs and what a reconciler keeps are looked for (default: the context''s namespace)')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'How long one request to the API server may go unanswered before it fails (e.g. 30s, 2m; 0 waits forever). Default: 10s to connect, 60s for an answer')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'How much to say on stderr, with kubectl''s levels: 1 to 5 the stages and their timing (a reconciler''s debug log), 6 every request to the API server, 8 their bodies too (Secret values and credentials scrubbed). -v is 1, -vv 2')
            [CompletionResult]::new('--v', '--v', [CompletionResultType]::ParameterName, 'How much to say on stderr, with kubectl''s levels: 1 to 5 the stages and their timing (a reconciler''s debug log), 6 every request to the API server, 8 their bodies too (Secret values and credentials scrubbed). -v is 1, -vv 2')
            [CompletionResult]::new('--adopt', '--adopt', [CompletionResultType]::ParameterName, 'Move objects that are members of another ApplySet into this one. Without it they are refused (per object: the annotation kubectl-gitops.io/adopt: "true" in git)')
            [CompletionResult]::new('--rewrite-unstable', '--rewrite-unstable', [CompletionResultType]::ParameterName, 'Apply the fields a chart renders differently each time (a random password without `lookup`, a timestamp) even where they are live already. Without it such unstable fields seed new objects only, and the live value is kept')
            [CompletionResult]::new('--allow-empty', '--allow-empty', [CompletionResultType]::ParameterName, 'Allow applying a render with no objects, which prunes every member of the set')
            [CompletionResult]::new('--prune-protected', '--prune-protected', [CompletionResultType]::ParameterName, 'Also prune Namespaces, CustomResourceDefinitions and PersistentVolumeClaims that left git (deleting them deletes everything in them)')
            [CompletionResult]::new('--no-prune', '--no-prune', [CompletionResultType]::ParameterName, 'Keep objects that left git instead of pruning them (a GitSync''s `prune: false`)')
            [CompletionResult]::new('--no-watch', '--no-watch', [CompletionResultType]::ParameterName, 'Do not watch managed objects (drift is then put back at the next interval)')
            [CompletionResult]::new('--no-leader-election', '--no-leader-election', [CompletionResultType]::ParameterName, 'Run without leader election (only safe with a single replica, per shard for the controller)')
            [CompletionResult]::new('--allow-remote-bases', '--allow-remote-bases', [CompletionResultType]::ParameterName, 'Build remote kustomize bases (https://host/org/repo//dir?ref=v1, git@host:org/repo, ssh://...) as `kubectl kustomize` does: fetched with kubectl-gitops''s own git client, no credential sent (ssh uses your own keys), checked like the repository, and shown in origins with the commit fetched. Without it a remote base is refused, naming the file and URL')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kubectl-gitops;controller' {
            [CompletionResult]::new('--shard', '--shard', [CompletionResultType]::ParameterName, 'Own the GitSyncs labelled kubectl-gitops.io/shard=NAME (default: those without the label)')
            [CompletionResult]::new('--watch-namespace', '--watch-namespace', [CompletionResultType]::ParameterName, 'Watch GitSyncs in this namespace only (default: every namespace)')
            [CompletionResult]::new('--default-service-account', '--default-service-account', [CompletionResultType]::ParameterName, 'The ServiceAccount (in the sync''s own namespace) a GitSync without spec.serviceAccountName acts as. Without it such syncs are refused (Stalled), so no sync acts as the controller itself')
            [CompletionResult]::new('--concurrent-syncs', '--concurrent-syncs', [CompletionResultType]::ParameterName, 'Syncs reconciled at once, shared fairly between namespaces')
            [CompletionResult]::new('--dependency-retry', '--dependency-retry', [CompletionResultType]::ParameterName, 'How soon a sync waiting for a dependency looks again (a dependency turning Ready wakes it at once anyway)')
            [CompletionResult]::new('--allow-fetch-to', '--allow-fetch-to', [CompletionResultType]::ParameterName, 'Let tenants'' sources reach this internal address, network (CIDR) or host name (repeatable). Without it chart repositories and registries at loopback, link-local, private or cluster-internal addresses, and git remotes at loopback or link-local ones, are refused after DNS resolution and redirects')
            [CompletionResult]::new('--lease-namespace', '--lease-namespace', [CompletionResultType]::ParameterName, 'Namespace of the shard''s leader Lease (default: -n or the context''s namespace)')
            [CompletionResult]::new('--cache-dir', '--cache-dir', [CompletionResultType]::ParameterName, 'Where the git caches live (default: $KUBECTL_GITOPS_CACHE_DIR, else $XDG_CACHE_HOME/kubectl-gitops, else ~/.cache/kubectl-gitops)')
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Serve /healthz, /readyz and /metrics on this address')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'Log format on stderr')
            [CompletionResult]::new('--backoff', '--backoff', [CompletionResultType]::ParameterName, 'First retry delay after a failed cycle; doubles per failure')
            [CompletionResult]::new('--max-backoff', '--max-backoff', [CompletionResultType]::ParameterName, 'Longest retry delay after failures')
            [CompletionResult]::new('--fetch-timeout', '--fetch-timeout', [CompletionResultType]::ParameterName, 'Give up a fetch after this long')
            [CompletionResult]::new('--lease-duration', '--lease-duration', [CompletionResultType]::ParameterName, 'How long a leader''s claim lasts without renewal')
            [CompletionResult]::new('--identity', '--identity', [CompletionResultType]::ParameterName, 'This replica''s identity in the Lease and Events (default: $POD_NAME, else host-pid)')
            [CompletionResult]::new('--shutdown-grace', '--shutdown-grace', [CompletionResultType]::ParameterName, 'After SIGTERM, how long the cycle in progress may take to finish; past it no further write is sent, those in flight are answered (each is one request: no object is half written), and nothing is pruned')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Requests in flight at most (default: 32; for the controller, all syncs together: 64). The window that follows the API server stays below it')
            [CompletionResult]::new('--qps', '--qps', [CompletionResultType]::ParameterName, 'A client-side cap on requests per second (bursts may go to twice this). Without it the pace follows the API server: fewer requests in flight when it answers 429 Too Many Requests, more while it keeps up, never more than --concurrency')
            [CompletionResult]::new('--helm-binary', '--helm-binary', [CompletionResultType]::ParameterName, 'The helm program that renders Helm charts (default: $GITOPS_HELM, then `helm` on PATH; Helm 3.8 or later)')
            [CompletionResult]::new('--render-timeout', '--render-timeout', [CompletionResultType]::ParameterName, 'How long one render may take, helm and kustomize and what they fetch included. At the deadline their processes are killed and the render fails; nothing is applied or pruned')
            [CompletionResult]::new('--max-render-bytes', '--max-render-bytes', [CompletionResultType]::ParameterName, 'Most bytes one render may read from helm and kustomize, all processes together (e.g. 64Mi, 1Gi). Past it the process is killed and the render fails')
            [CompletionResult]::new('--max-render-objects', '--max-render-objects', [CompletionResultType]::ParameterName, 'Most objects one render may produce')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use (default: its current-context)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in: where objects that name none go, and where sets, GitSyncs and what a reconciler keeps are looked for (default: the context''s namespace)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in: where objects that name none go, and where sets, GitSyncs and what a reconciler keeps are looked for (default: the context''s namespace)')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'How long one request to the API server may go unanswered before it fails (e.g. 30s, 2m; 0 waits forever). Default: 10s to connect, 60s for an answer')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'How much to say on stderr, with kubectl''s levels: 1 to 5 the stages and their timing (a reconciler''s debug log), 6 every request to the API server, 8 their bodies too (Secret values and credentials scrubbed). -v is 1, -vv 2')
            [CompletionResult]::new('--v', '--v', [CompletionResultType]::ParameterName, 'How much to say on stderr, with kubectl''s levels: 1 to 5 the stages and their timing (a reconciler''s debug log), 6 every request to the API server, 8 their bodies too (Secret values and credentials scrubbed). -v is 1, -vv 2')
            [CompletionResult]::new('--allow-file-sources', '--allow-file-sources', [CompletionResultType]::ParameterName, 'Let GitSyncs name file:// URLs and local paths (never the controller''s own caches)')
            [CompletionResult]::new('--no-watch', '--no-watch', [CompletionResultType]::ParameterName, 'Do not watch managed objects (drift is then put back at the next interval)')
            [CompletionResult]::new('--no-leader-election', '--no-leader-election', [CompletionResultType]::ParameterName, 'Run without leader election (only safe with a single replica, per shard for the controller)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kubectl-gitops;get' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use (default: its current-context)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in: where objects that name none go, and where sets, GitSyncs and what a reconciler keeps are looked for (default: the context''s namespace)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in: where objects that name none go, and where sets, GitSyncs and what a reconciler keeps are looked for (default: the context''s namespace)')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'How long one request to the API server may go unanswered before it fails (e.g. 30s, 2m; 0 waits forever). Default: 10s to connect, 60s for an answer')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'How much to say on stderr, with kubectl''s levels: 1 to 5 the stages and their timing (a reconciler''s debug log), 6 every request to the API server, 8 their bodies too (Secret values and credentials scrubbed). -v is 1, -vv 2')
            [CompletionResult]::new('--v', '--v', [CompletionResultType]::ParameterName, 'How much to say on stderr, with kubectl''s levels: 1 to 5 the stages and their timing (a reconciler''s debug log), 6 every request to the API server, 8 their bodies too (Secret values and credentials scrubbed). -v is 1, -vv 2')
            [CompletionResult]::new('-A', '-A ', [CompletionResultType]::ParameterName, 'Every namespace the caller may list, not just -n''s (or the context''s)')
            [CompletionResult]::new('--all-namespaces', '--all-namespaces', [CompletionResultType]::ParameterName, 'Every namespace the caller may list, not just -n''s (or the context''s)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kubectl-gitops;sync' {
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'How long --wait waits (e.g. 90s, 5m); for apply, also how long one Helm hook may run')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use (default: its current-context)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in: where objects that name none go, and where sets, GitSyncs and what a reconciler keeps are looked for (default: the context''s namespace)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in: where objects that name none go, and where sets, GitSyncs and what a reconciler keeps are looked for (default: the context''s namespace)')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'How long one request to the API server may go unanswered before it fails (e.g. 30s, 2m; 0 waits forever). Default: 10s to connect, 60s for an answer')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'How much to say on stderr, with kubectl''s levels: 1 to 5 the stages and their timing (a reconciler''s debug log), 6 every request to the API server, 8 their bodies too (Secret values and credentials scrubbed). -v is 1, -vv 2')
            [CompletionResult]::new('--v', '--v', [CompletionResultType]::ParameterName, 'How much to say on stderr, with kubectl''s levels: 1 to 5 the stages and their timing (a reconciler''s debug log), 6 every request to the API server, 8 their bodies too (Secret values and credentials scrubbed). -v is 1, -vv 2')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'Wait until what was applied is ready (Deployments, StatefulSets, DaemonSets, Jobs, CRDs), or for sync until the controller has handled the request')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kubectl-gitops;suspend' {
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use (default: its current-context)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in: where objects that name none go, and where sets, GitSyncs and what a reconciler keeps are looked for (default: the context''s namespace)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in: where objects that name none go, and where sets, GitSyncs and what a reconciler keeps are looked for (default: the context''s namespace)')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'How long one request to the API server may go unanswered before it fails (e.g. 30s, 2m; 0 waits forever). Default: 10s to connect, 60s for an answer')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'How much to say on stderr, with kubectl''s levels: 1 to 5 the stages and their timing (a reconciler''s debug log), 6 every request to the API server, 8 their bodies too (Secret values and credentials scrubbed). -v is 1, -vv 2')
            [CompletionResult]::new('--v', '--v', [CompletionResultType]::ParameterName, 'How much to say on stderr, with kubectl''s levels: 1 to 5 the stages and their timing (a reconciler''s debug log), 6 every request to the API server, 8 their bodies too (Secret values and credentials scrubbed). -v is 1, -vv 2')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kubectl-gitops;resume' {
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use (default: its current-context)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in: where objects that name none go, and where sets, GitSyncs and what a reconciler keeps are looked for (default: the context''s namespace)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in: where objects that name none go, and where sets, GitSyncs and what a reconciler keeps are looked for (default: the context''s namespace)')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'How long one request to the API server may go unanswered before it fails (e.g. 30s, 2m; 0 waits forever). Default: 10s to connect, 60s for an answer')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'How much to say on stderr, with kubectl''s levels: 1 to 5 the stages and their timing (a reconciler''s debug log), 6 every request to the API server, 8 their bodies too (Secret values and credentials scrubbed). -v is 1, -vv 2')
            [CompletionResult]::new('--v', '--v', [CompletionResultType]::ParameterName, 'How much to say on stderr, with kubectl''s levels: 1 to 5 the stages and their timing (a reconciler''s debug log), 6 every request to the API server, 8 their bodies too (Secret values and credentials scrubbed). -v is 1, -vv 2')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kubectl-gitops;status' {
            [CompletionResult]::new('--applyset', '--applyset', [CompletionResultType]::ParameterName, 'Name of the ApplySet recording what one repository path manages (default: derived from the repository''s URL, the path and the target namespace, e.g. gitops-platform-deploy-prod-1a2b3c4d; `status` without it lists every set)')
            [CompletionResult]::new('--applyset-namespace', '--applyset-namespace', [CompletionResultType]::ParameterName, 'Namespace of the ApplySet''s parent Secret, which also holds a reconciler''s status ConfigMap, Lease and Events (default: the target namespace, -n or the context''s)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to color output: auto (a terminal without NO_COLOR), always, never')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use (default: its current-context)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in: where objects that name none go, and where sets, GitSyncs and what a reconciler keeps are looked for (default: the context''s namespace)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in: where objects that name none go, and where sets, GitSyncs and what a reconciler keeps are looked for (default: the context''s namespace)')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'How long one request to the API server may go unanswered before it fails (e.g. 30s, 2m; 0 waits forever). Default: 10s to connect, 60s for an answer')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'How much to say on stderr, with kubectl''s levels: 1 to 5 the stages and their timing (a reconciler''s debug log), 6 every request to the API server, 8 their bodies too (Secret values and credentials scrubbed). -v is 1, -vv 2')
            [CompletionResult]::new('--v', '--v', [CompletionResultType]::ParameterName, 'How much to say on stderr, with kubectl''s levels: 1 to 5 the stages and their timing (a reconciler''s debug log), 6 every request to the API server, 8 their bodies too (Secret values and credentials scrubbed). -v is 1, -vv 2')
            [CompletionResult]::new('-A', '-A ', [CompletionResultType]::ParameterName, 'Every namespace the caller may list, not just -n''s (or the context''s)')
            [CompletionResult]::new('--all-namespaces', '--all-namespaces', [CompletionResultType]::ParameterName, 'Every namespace the caller may list, not just -n''s (or the context''s)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kubectl-gitops;install' {
            [CompletionResult]::new('--image', '--image', [CompletionResultType]::ParameterName, 'Container image holding kubectl-gitops, git and kubectl')
            [CompletionResult]::new('--repo', '--repo', [CompletionResultType]::ParameterName, 'The git repository: an https://, git:// or file:// URL, or a local path')
            [CompletionResult]::new('--ref', '--ref', [CompletionResultType]::ParameterName, 'The git revision to render: a branch, tag or commit (HEAD~2, ...). diff, apply and pr render the working tree without it; a reconciler fetches it at every interval, following a branch as it moves')
            [CompletionResult]::new('--path', '--path', [CompletionResultType]::ParameterName, 'Directory of the manifests inside the repository')
            [CompletionResult]::new('--interval', '--interval', [CompletionResultType]::ParameterName, 'Time between full cycles (fetch, plan, apply)')
            [CompletionResult]::new('--target-namespace', '--target-namespace', [CompletionResultType]::ParameterName, 'Namespace namespace-less objects are applied to, which holds the ApplySet parent too (default: the namespace the reconciler runs in)')
            [CompletionResult]::new('--replicas', '--replicas', [CompletionResultType]::ParameterName, 'Replicas (more than one stand by; a Lease makes sure only one applies)')
            [CompletionResult]::new('--credentials-secret', '--credentials-secret', [CompletionResultType]::ParameterName, 'A Secret in the reconciler''s namespace holding the https token under the key `token` (create it with `kubectl create secret generic NAME --from-file=token=FILE`). It is mounted into the pod and read with --token-file; the token never appears in the Deployment. Credentials in --repo are refused')
            [CompletionResult]::new('--secret-namespaces', '--secret-namespaces', [CompletionResultType]::ParameterName, 'Namespaces in which the reconciler may manage Secrets (repeat or comma-separate). Reading Secrets is reading every credential in them, so it is granted per namespace only; without this flag no Secret can be managed')
            [CompletionResult]::new('--token-username', '--token-username', [CompletionResultType]::ParameterName, 'User name sent with the token (GitLab wants oauth2, Bitbucket x-token-auth)')
            [CompletionResult]::new('--drift', '--drift', [CompletionResultType]::ParameterName, 'What to do with a change made in the cluster outside git: `heal` puts it back; `report` leaves it and records it (status ConfigMap, a DriftDetected Event, the gitops_reconcile_drifted_objects metric). In both modes, what git changes still applies: a new commit''s changed, added and removed objects (an object git changes is applied whole, which also puts back its drift)')
            [CompletionResult]::new('--shards', '--shards', [CompletionResultType]::ParameterName, 'With --controller: also N shard Deployments, each owning the GitSyncs labelled kubectl-gitops.io/shard: shard-<i> (the first Deployment owns unlabelled ones)')
            [CompletionResult]::new('--default-service-account', '--default-service-account', [CompletionResultType]::ParameterName, 'The ServiceAccount (in the sync''s own namespace) a GitSync without spec.serviceAccountName acts as. Without it such syncs are refused (Stalled), so no sync acts as the controller itself')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in: where objects that name none go, and where sets, GitSyncs and what a reconciler keeps are looked for (default: the context''s namespace)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in: where objects that name none go, and where sets, GitSyncs and what a reconciler keeps are looked for (default: the context''s namespace)')
            [CompletionResult]::new('--controller', '--controller', [CompletionResultType]::ParameterName, 'Print the GitSync CRD, the controller''s RBAC and Deployment instead (`kubectl gitops controller`; syncs are then GitSync objects, and --repo/--path do not apply)')
            [CompletionResult]::new('--crd-only', '--crd-only', [CompletionResultType]::ParameterName, 'With --controller: print only the CRD')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kubectl-gitops;pr' {
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Manifests as kubectl''s -f names them. One directory is the same as PATH: the whole set, pruning what it no longer renders. diff and apply also take files and several -f: their objects are planned together and nothing is pruned (their directory''s ApplySet tracks more than they hold; apply the directory to prune). pr takes one directory')
            [CompletionResult]::new('--filename', '--filename', [CompletionResultType]::ParameterName, 'Manifests as kubectl''s -f names them. One directory is the same as PATH: the whole set, pruning what it no longer renders. diff and apply also take files and several -f: their objects are planned together and nothing is pruned (their directory''s ApplySet tracks more than they hold; apply the directory to prune). pr takes one directory')
            [CompletionResult]::new('--applyset', '--applyset', [CompletionResultType]::ParameterName, 'Name of the ApplySet recording what one repository path manages (default: derived from the repository''s URL, the path and the target namespace, e.g. gitops-platform-deploy-prod-1a2b3c4d; `status` without it lists every set)')
            [CompletionResult]::new('--applyset-namespace', '--applyset-namespace', [CompletionResultType]::ParameterName, 'Namespace of the ApplySet''s parent Secret, which also holds a reconciler''s status ConfigMap, Lease and Events (default: the target namespace, -n or the context''s)')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Requests in flight at most (default: 32; for the controller, all syncs together: 64). The window that follows the API server stays below it')
            [CompletionResult]::new('--qps', '--qps', [CompletionResultType]::ParameterName, 'A client-side cap on requests per second (bursts may go to twice this). Without it the pace follows the API server: fewer requests in flight when it answers 429 Too Many Requests, more while it keeps up, never more than --concurrency')
            [CompletionResult]::new('--helm-binary', '--helm-binary', [CompletionResultType]::ParameterName, 'The helm program that renders Helm charts (default: $GITOPS_HELM, then `helm` on PATH; Helm 3.8 or later)')
            [CompletionResult]::new('--render-timeout', '--render-timeout', [CompletionResultType]::ParameterName, 'How long one render may take, helm and kustomize and what they fetch included. At the deadline their processes are killed and the render fails; nothing is applied or pruned')
            [CompletionResult]::new('--max-render-bytes', '--max-render-bytes', [CompletionResultType]::ParameterName, 'Most bytes one render may read from helm and kustomize, all processes together (e.g. 64Mi, 1Gi). Past it the process is killed and the render fails')
            [CompletionResult]::new('--max-render-objects', '--max-render-objects', [CompletionResultType]::ParameterName, 'Most objects one render may produce')
            [CompletionResult]::new('--kubeconfig', '--kubeconfig', [CompletionResultType]::ParameterName, 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
            [CompletionResult]::new('--context', '--context', [CompletionResultType]::ParameterName, 'The kubeconfig context to use (default: its current-context)')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'The namespace to work in: where objects that name none go, and where sets, GitSyncs and what a reconciler keeps are looked for (default: the context''s namespace)')
            [CompletionResult]::new('--namespace', '--namespace', [CompletionResultType]::ParameterName, 'The namespace to work in: where objects that name none go, and where sets, GitSyncs and what a reconciler keeps are looked for (default: the context''s namespace)')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'How long one request to the API server may go unanswered before it fails (e.g. 30s, 2m; 0 waits forever). Default: 10s to connect, 60s for an answer')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'How much to say on stderr, with kubectl''s levels: 1 to 5 the stages and their timing (a reconciler''s debug log), 6 every request to the API server, 8 their bodies too (Secret values and credentials scrubbed). -v is 1, -vv 2')
            [CompletionResult]::new('--v', '--v', [CompletionResultType]::ParameterName, 'How much to say on stderr, with kubectl''s levels: 1 to 5 the stages and their timing (a reconciler''s debug log), 6 every request to the API server, 8 their bodies too (Secret values and credentials scrubbed). -v is 1, -vv 2')
            [CompletionResult]::new('--branch', '--branch', [CompletionResultType]::ParameterName, 'Branch to create (default: gitops/<path>-<the change''s tree hash>, so a rerun of the same change reuses it)')
            [CompletionResult]::new('-m', '-m', [CompletionResultType]::ParameterName, 'Commit message (default: derived from the plan summary)')
            [CompletionResult]::new('--message', '--message', [CompletionResultType]::ParameterName, 'Commit message (default: derived from the plan summary)')
            [CompletionResult]::new('--title', '--title', [CompletionResultType]::ParameterName, 'Pull request title (default: the commit message''s first line)')
            [CompletionResult]::new('--base', '--base', [CompletionResultType]::ParameterName, 'The revision a change is measured against: the pull request''s target branch. diff marks each change "introduced" (the render differs from REV''s) or "drift" (REV renders it the same: the cluster changed), or with --offline compares with REV''s render; pr opens the pull request into REV (default: the current branch)')
            [CompletionResult]::new('--remote', '--remote', [CompletionResultType]::ParameterName, 'Git remote to push to')
            [CompletionResult]::new('--github-repo', '--github-repo', [CompletionResultType]::ParameterName, 'GitHub repository as OWNER/NAME (default: inferred from the remote''s URL)')
            [CompletionResult]::new('--api-url', '--api-url', [CompletionResultType]::ParameterName, 'GitHub API base URL')
            [CompletionResult]::new('--comment', '--comment', [CompletionResultType]::ParameterName, 'Create or update the preview comment on this pull request instead of opening one')
            [CompletionResult]::new('--ref', '--ref', [CompletionResultType]::ParameterName, 'The git revision to render: a branch, tag or commit (HEAD~2, ...). diff, apply and pr render the working tree without it; a reconciler fetches it at every interval, following a branch as it moves')
            [CompletionResult]::new('--adopt', '--adopt', [CompletionResultType]::ParameterName, 'Move objects that are members of another ApplySet into this one. Without it they are refused (per object: the annotation kubectl-gitops.io/adopt: "true" in git)')
            [CompletionResult]::new('--prune-protected', '--prune-protected', [CompletionResultType]::ParameterName, 'Also prune Namespaces, CustomResourceDefinitions and PersistentVolumeClaims that left git (deleting them deletes everything in them)')
            [CompletionResult]::new('--force-conflicts', '--force-conflicts', [CompletionResultType]::ParameterName, 'Take ownership of fields another field manager owns (server-side apply''s force). Without it, as with kubectl, an object whose apply would change such fields is shown as a conflict, naming the managers and fields, and apply refuses the plan')
            [CompletionResult]::new('--rewrite-unstable', '--rewrite-unstable', [CompletionResultType]::ParameterName, 'Apply the fields a chart renders differently each time (a random password without `lookup`, a timestamp) even where they are live already. Without it such unstable fields seed new objects only, and the live value is kept')
            [CompletionResult]::new('--show-defaults', '--show-defaults', [CompletionResultType]::ParameterName, 'Print the fields the server defaults on objects being created (imagePullPolicy, dnsPolicy, ...) instead of one line counting them. Updates always show every change')
            [CompletionResult]::new('--verify-unchanged', '--verify-unchanged', [CompletionResultType]::ParameterName, 'Dry-run unchanged objects on the server too. By default an object whose live copy shows our last apply still in place (every value we send, every field we owned) is planned as unchanged without a dry-run')
            [CompletionResult]::new('--allow-remote-bases', '--allow-remote-bases', [CompletionResultType]::ParameterName, 'Build remote kustomize bases (https://host/org/repo//dir?ref=v1, git@host:org/repo, ssh://...) as `kubectl kustomize` does: fetched with kubectl-gitops''s own git client, no credential sent (ssh uses your own keys), checked like the repository, and shown in origins with the commit fetched. Without it a remote base is refused, naming the file and URL')
            [CompletionResult]::new('--show-secrets', '--show-secrets', [CompletionResultType]::ParameterName, 'Refused with the reason: a pull request''s preview always masks Secret values')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kubectl-gitops;version' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kubectl-gitops;completion' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'kubectl-gitops;help' {
            [CompletionResult]::new('diff', 'diff', [CompletionResultType]::ParameterValue, 'Show what applying the manifests under PATH would change in the cluster')
            [CompletionResult]::new('apply', 'apply', [CompletionResultType]::ParameterValue, 'Apply the manifests under PATH: show the plan, ask, apply in order, prune what left git')
            [CompletionResult]::new('reconcile', 'reconcile', [CompletionResultType]::ParameterValue, 'Keep the cluster in sync with a git repository, continuously')
            [CompletionResult]::new('controller', 'controller', [CompletionResultType]::ParameterValue, 'Reconcile every GitSync of a shard: many repositories and paths, one process')
            [CompletionResult]::new('get', 'get', [CompletionResultType]::ParameterValue, 'List GitSyncs: which are out of sync, and why')
            [CompletionResult]::new('sync', 'sync', [CompletionResultType]::ParameterValue, 'Ask the controller to reconcile a GitSync now (fetch included)')
            [CompletionResult]::new('suspend', 'suspend', [CompletionResultType]::ParameterValue, 'Stop reconciling a GitSync; its objects stay as they are')
            [CompletionResult]::new('resume', 'resume', [CompletionResultType]::ParameterValue, 'Reconcile a suspended GitSync again')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show the ApplySets you can see, or what the reconciler of one last did')
            [CompletionResult]::new('install', 'install', [CompletionResultType]::ParameterValue, 'Print the manifests that run the reconciler in a cluster')
            [CompletionResult]::new('pr', 'pr', [CompletionResultType]::ParameterValue, 'Open a pull request with the change under PATH and its cluster preview')
            [CompletionResult]::new('version', 'version', [CompletionResultType]::ParameterValue, 'Print the version, git commit and build target')
            [CompletionResult]::new('completion', 'completion', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'kubectl-gitops;help;diff' {
            break
        }
        'kubectl-gitops;help;apply' {
            break
        }
        'kubectl-gitops;help;reconcile' {
            break
        }
        'kubectl-gitops;help;controller' {
            break
        }
        'kubectl-gitops;help;get' {
            break
        }
        'kubectl-gitops;help;sync' {
            break
        }
        'kubectl-gitops;help;suspend' {
            break
        }
        'kubectl-gitops;help;resume' {
            break
        }
        'kubectl-gitops;help;status' {
            break
        }
        'kubectl-gitops;help;install' {
            break
        }
        'kubectl-gitops;help;pr' {
            break
        }
        'kubectl-gitops;help;version' {
            break
        }
        'kubectl-gitops;help;completion' {
            break
        }
        'kubectl-gitops;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
