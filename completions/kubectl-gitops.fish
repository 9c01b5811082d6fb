# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_kubectl_gitops_global_optspecs
    string join \n h/help V/version
end

function __fish_kubectl_gitops_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_kubectl_gitops_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_kubectl_gitops_using_subcommand
    set -l cmd (__fish_kubectl_gitops_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c kubectl-gitops -n "__fish_kubectl_gitops_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_needs_command" -s V -l version -d 'Print version'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_needs_command" -f -a "diff" -d 'Show what applying the manifests under PATH would change in the cluster'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_needs_command" -f -a "apply" -d 'Apply the manifests under PATH: show the plan, ask, apply in order, prune what left git'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_needs_command" -f -a "reconcile" -d 'Keep the cluster in sync with a git repository, continuously'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_needs_command" -f -a "controller" -d 'Reconcile every GitSync of a shard: many repositories and paths, one process'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_needs_command" -f -a "get" -d 'List GitSyncs: which are out of sync, and why'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_needs_command" -f -a "sync" -d 'Ask the controller to reconcile a GitSync now (fetch included)'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_needs_command" -f -a "suspend" -d 'Stop reconciling a GitSync; its objects stay as they are'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_needs_command" -f -a "resume" -d 'Reconcile a suspended GitSync again'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_needs_command" -f -a "status" -d 'Show the ApplySets you can see, or what the reconciler of one last did'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_needs_command" -f -a "install" -d 'Print the manifests that run the reconciler in a cluster'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_needs_command" -f -a "pr" -d 'Open a pull request with the change under PATH and its cluster preview'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_needs_command" -f -a "version" -d 'Print the version, git commit and build target'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_needs_command" -f -a "completion" -d 'Print a shell completion script'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand diff" -s f -l filename -d 'The directory holding the manifests, as kubectl\'s -f spells it (the same as PATH). One directory: it is what the ApplySet tracks, so applying one file of it would prune the objects of the others' -r -f -a "(__fish_complete_directories)"
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand diff" -l ref -d 'The git revision to render: a branch, tag or commit (HEAD~2, ...). diff, apply and pr render the working tree without it; a reconciler fetches it at every interval, following a branch as it moves' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand diff" -l applyset -d 'Name of the ApplySet recording what one repository path manages (default: derived from the repository\'s URL, the path and the target namespace, e.g. gitops-platform-deploy-prod-1a2b3c4d; `status` without it lists every set)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand diff" -l applyset-namespace -d 'Namespace of the ApplySet\'s parent Secret, which also holds a reconciler\'s status ConfigMap, Lease and Events (default: the target namespace, -n or the context\'s)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand diff" -l concurrency -d 'Requests in flight at most (default: 32; for the controller, all syncs together: 64). The window that follows the API server stays below it' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand diff" -l qps -d 'A client-side cap on requests per second (bursts may go to twice this). Without it the pace follows the API server: fewer requests in flight when it answers 429 Too Many Requests, more while it keeps up, never more than --concurrency' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand diff" -l helm-binary -d 'The helm program that renders Helm charts (default: $GITOPS_HELM, then `helm` on PATH; Helm 3.8 or later)' -r -F
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand diff" -l render-timeout -d 'How long one render may take, helm and kustomize and what they fetch included. At the deadline their processes are killed and the render fails; nothing is applied or pruned' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand diff" -l max-render-bytes -d 'Most bytes one render may read from helm and kustomize, all processes together (e.g. 64Mi, 1Gi). Past it the process is killed and the render fails' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand diff" -l max-render-objects -d 'Most objects one render may produce' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand diff" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand diff" -l context -d 'The kubeconfig context to use (default: its current-context)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand diff" -s n -l namespace -d 'The namespace to work in: where objects that name none go, and where sets, GitSyncs and what a reconciler keeps are looked for (default: the context\'s namespace)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand diff" -l request-timeout -d 'How long one request to the API server may go unanswered before it fails (e.g. 30s, 2m; 0 waits forever). Default: 10s to connect, 60s for an answer' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand diff" -s v -l v -d 'How much to say on stderr, with kubectl\'s levels: 1 to 5 the stages and their timing (a reconciler\'s debug log), 6 every request to the API server, 8 their bodies too (Secret values and credentials scrubbed). -v is 1, -vv 2' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand diff" -l color -d 'When to color output: auto (a terminal without NO_COLOR), always, never' -r -f -a "auto\t'Color when standard output is a terminal and `NO_COLOR` is unset'
always\t'Always color, even when NO_COLOR is set or output is not a terminal'
never\t'Never color'"
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand diff" -s o -l output -d 'Output format' -r -f -a "text\t'Colored unified diffs for a terminal'
markdown\t'A pull-request comment: summary table and a collapsible section per object'
json\t'A stable, documented schema (see docs/json-output.md)'"
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand diff" -l base -d 'The revision a change is measured against: the pull request\'s target branch. diff marks each change "introduced" (the render differs from REV\'s) or "drift" (REV renders it the same: the cluster changed), or with --offline compares with REV\'s render; pr opens the pull request into REV (default: the current branch)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand diff" -l out -d 'Also write the plan to this file (JSON, see docs/plan-format.md), for `kubectl gitops apply --plan`: no Secret value is in it, only digests. Not written when the plan has errors or conflicts' -r -F
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand diff" -l adopt -d 'Move objects that are members of another ApplySet into this one. Without it they are refused (per object: the annotation kubectl-gitops.io/adopt: "true" in git)'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand diff" -l prune-protected -d 'Also prune Namespaces, CustomResourceDefinitions and PersistentVolumeClaims that left git (deleting them deletes everything in them)'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand diff" -l force-conflicts -d 'Take ownership of fields another field manager owns (server-side apply\'s force). Without it, as with kubectl, an object whose apply would change such fields is shown as a conflict, naming the managers and fields, and apply refuses the plan'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand diff" -l show-defaults -d 'Print the fields the server defaults on objects being created (imagePullPolicy, dnsPolicy, ...) instead of one line counting them. Updates always show every change'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand diff" -l verify-unchanged -d 'Dry-run unchanged objects on the server too. By default an object whose live copy shows our last apply still in place (every value we send, every field we owned) is planned as unchanged without a dry-run'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand diff" -l show-secrets -d 'Print Secret values instead of masking them'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand diff" -l offline -d 'Compare the render of --base with that of --ref (default: the working tree) without contacting any cluster: objects only in --ref are creates, objects only in --base are prunes. Namespaces are compared as written'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand diff" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand diff" -s V -l version -d 'Print version'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand apply" -s f -l filename -d 'The directory holding the manifests, as kubectl\'s -f spells it (the same as PATH). One directory: it is what the ApplySet tracks, so applying one file of it would prune the objects of the others' -r -f -a "(__fish_complete_directories)"
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand apply" -l ref -d 'The git revision to render: a branch, tag or commit (HEAD~2, ...). diff, apply and pr render the working tree without it; a reconciler fetches it at every interval, following a branch as it moves' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand apply" -l applyset -d 'Name of the ApplySet recording what one repository path manages (default: derived from the repository\'s URL, the path and the target namespace, e.g. gitops-platform-deploy-prod-1a2b3c4d; `status` without it lists every set)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand apply" -l applyset-namespace -d 'Namespace of the ApplySet\'s parent Secret, which also holds a reconciler\'s status ConfigMap, Lease and Events (default: the target namespace, -n or the context\'s)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand apply" -l concurrency -d 'Requests in flight at most (default: 32; for the controller, all syncs together: 64). The window that follows the API server stays below it' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand apply" -l qps -d 'A client-side cap on requests per second (bursts may go to twice this). Without it the pace follows the API server: fewer requests in flight when it answers 429 Too Many Requests, more while it keeps up, never more than --concurrency' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand apply" -l helm-binary -d 'The helm program that renders Helm charts (default: $GITOPS_HELM, then `helm` on PATH; Helm 3.8 or later)' -r -F
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand apply" -l render-timeout -d 'How long one render may take, helm and kustomize and what they fetch included. At the deadline their processes are killed and the render fails; nothing is applied or pruned' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand apply" -l max-render-bytes -d 'Most bytes one render may read from helm and kustomize, all processes together (e.g. 64Mi, 1Gi). Past it the process is killed and the render fails' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand apply" -l max-render-objects -d 'Most objects one render may produce' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand apply" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand apply" -l context -d 'The kubeconfig context to use (default: its current-context)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand apply" -s n -l namespace -d 'The namespace to work in: where objects that name none go, and where sets, GitSyncs and what a reconciler keeps are looked for (default: the context\'s namespace)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand apply" -l request-timeout -d 'How long one request to the API server may go unanswered before it fails (e.g. 30s, 2m; 0 waits forever). Default: 10s to connect, 60s for an answer' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand apply" -s v -l v -d 'How much to say on stderr, with kubectl\'s levels: 1 to 5 the stages and their timing (a reconciler\'s debug log), 6 every request to the API server, 8 their bodies too (Secret values and credentials scrubbed). -v is 1, -vv 2' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand apply" -l color -d 'When to color output: auto (a terminal without NO_COLOR), always, never' -r -f -a "auto\t'Color when standard output is a terminal and `NO_COLOR` is unset'
always\t'Always color, even when NO_COLOR is set or output is not a terminal'
never\t'Never color'"
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand apply" -s o -l output -d 'Output format' -r -f -a "text\t'The plan, then each write as it is done, for a person'
json\t'One JSON document in the schema of `diff -o json`, with what was done (docs/json-output.md)'"
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand apply" -l dry-run -d 'server: plan against the cluster and show everything, write nothing (--dry-run alone means this); client: render and list the objects without contacting the cluster; none: apply' -r -f -a "none\t'Apply'
server\t'Plan against the cluster (server-side dry-run) and show everything; write nothing'
client\t'Render and list the objects; the cluster is not contacted'"
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand apply" -l timeout -d 'How long --wait waits (e.g. 90s, 5m); for apply, also how long one Helm hook may run' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand apply" -l plan -d 'Apply exactly the plan in this file (written by `kubectl gitops diff --out`): PATH is planned again with the file\'s settings and applied only if every object still matches it (same render, same live object in the same version); otherwise nothing is written and each object that moved is named' -r -F
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand apply" -l expect-digest -d 'Refuse the plan file unless its digest is this one (as a pull-request preview shows it)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand apply" -l max-prune -d 'The most objects one apply (or reconcile cycle) may prune: a count (5), a share of the set\'s members (10%, rounded up) or unlimited. Over it nothing is pruned and everything else is applied; apply exits 3, a reconciler reports the cycle failed (status and a PruneBlocked Event) and retries' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand apply" -l adopt -d 'Move objects that are members of another ApplySet into this one. Without it they are refused (per object: the annotation kubectl-gitops.io/adopt: "true" in git)'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand apply" -l prune-protected -d 'Also prune Namespaces, CustomResourceDefinitions and PersistentVolumeClaims that left git (deleting them deletes everything in them)'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand apply" -l force-conflicts -d 'Take ownership of fields another field manager owns (server-side apply\'s force). Without it, as with kubectl, an object whose apply would change such fields is shown as a conflict, naming the managers and fields, and apply refuses the plan'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand apply" -l show-defaults -d 'Print the fields the server defaults on objects being created (imagePullPolicy, dnsPolicy, ...) instead of one line counting them. Updates always show every change'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand apply" -l verify-unchanged -d 'Dry-run unchanged objects on the server too. By default an object whose live copy shows our last apply still in place (every value we send, every field we owned) is planned as unchanged without a dry-run'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand apply" -l show-secrets -d 'Print Secret values instead of masking them'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand apply" -s y -l yes -d 'Apply without asking (required when standard input is not a terminal)'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand apply" -l allow-empty -d 'Allow applying a render with no objects, which prunes every member of the set'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand apply" -l wait -d 'Wait until what was applied is ready (Deployments, StatefulSets, DaemonSets, Jobs, CRDs), or for sync until the controller has handled the request'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand apply" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand apply" -s V -l version -d 'Print version'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand reconcile" -l repo -d 'The git repository: an https://, git:// or file:// URL, or a local path' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand reconcile" -l ref -d 'The git revision to render: a branch, tag or commit (HEAD~2, ...). diff, apply and pr render the working tree without it; a reconciler fetches it at every interval, following a branch as it moves' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand reconcile" -l path -d 'Directory of the manifests inside the repository' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand reconcile" -l interval -d 'Time between full cycles (fetch, plan, apply)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand reconcile" -l applyset -d 'Name of the ApplySet recording what one repository path manages (default: derived from the repository\'s URL, the path and the target namespace, e.g. gitops-platform-deploy-prod-1a2b3c4d; `status` without it lists every set)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand reconcile" -l applyset-namespace -d 'Namespace of the ApplySet\'s parent Secret, which also holds a reconciler\'s status ConfigMap, Lease and Events (default: the target namespace, -n or the context\'s)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand reconcile" -l max-prune -d 'The most objects one apply (or reconcile cycle) may prune: a count (5), a share of the set\'s members (10%, rounded up) or unlimited. Over it nothing is pruned and everything else is applied; apply exits 3, a reconciler reports the cycle failed (status and a PruneBlocked Event) and retries' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand reconcile" -l token-file -d 'Read the access token for an http(s) remote from this file (re-read at start only); $GITOPS_GIT_TOKEN works too. Sent as the password when the server asks; never logged' -r -F
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand reconcile" -l token-username -d 'User name sent with the token (GitLab wants oauth2, Bitbucket x-token-auth)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand reconcile" -l debounce -d 'Quiet time after a drift event before re-planning' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand reconcile" -l drift -d 'What to do with a change made in the cluster outside git: `heal` puts it back; `report` leaves it and records it (status ConfigMap, a DriftDetected Event, the gitops_reconcile_drifted_objects metric). In both modes, what git changes still applies: a new commit\'s changed, added and removed objects (an object git changes is applied whole, which also puts back its drift)' -r -f -a "heal\t'Put drift back: apply git over every change made outside it (the default)'
report\t'Record drift (status, Event, metric) and leave it as it is. Changes git brings (a new commit that renders an object differently, a new object, an object that left git) still apply; an object git changes is applied whole, so its drift goes with it'"
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand reconcile" -l lease-name -d 'Name of the leader Lease (default: <applyset>-leader)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand reconcile" -l cache-dir -d 'Where the git caches live (default: $KUBECTL_GITOPS_CACHE_DIR, else $XDG_CACHE_HOME/kubectl-gitops, else ~/.cache/kubectl-gitops)' -r -F
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand reconcile" -l listen -d 'Serve /healthz, /readyz and /metrics on this address' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand reconcile" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand reconcile" -l backoff -d 'First retry delay after a failed cycle; doubles per failure' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand reconcile" -l max-backoff -d 'Longest retry delay after failures' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand reconcile" -l fetch-timeout -d 'Give up a fetch after this long' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand reconcile" -l lease-duration -d 'How long a leader\'s claim lasts without renewal' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand reconcile" -l identity -d 'This replica\'s identity in the Lease and Events (default: $POD_NAME, else host-pid)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand reconcile" -l shutdown-grace -d 'After SIGTERM, how long the cycle in progress may take to finish; past it no further write is sent, those in flight are answered (each is one request: no object is half written), and nothing is pruned' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand reconcile" -l concurrency -d 'Requests in flight at most (default: 32; for the controller, all syncs together: 64). The window that follows the API server stays below it' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand reconcile" -l qps -d 'A client-side cap on requests per second (bursts may go to twice this). Without it the pace follows the API server: fewer requests in flight when it answers 429 Too Many Requests, more while it keeps up, never more than --concurrency' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand reconcile" -l helm-binary -d 'The helm program that renders Helm charts (default: $GITOPS_HELM, then `helm` on PATH; Helm 3.8 or later)' -r -F
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand reconcile" -l render-timeout -d 'How long one render may take, helm and kustomize and what they fetch included. At the deadline their processes are killed and the render fails; nothing is applied or pruned' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand reconcile" -l max-render-bytes -d 'Most bytes one render may read from helm and kustomize, all processes together (e.g. 64Mi, 1Gi). Past it the process is killed and the render fails' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand reconcile" -l max-render-objects -d 'Most objects one render may produce' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand reconcile" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand reconcile" -l context -d 'The kubeconfig context to use (default: its current-context)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand reconcile" -s n -l namespace -d 'The namespace to work in: where objects that name none go, and where sets, GitSyncs and what a reconciler keeps are looked for (default: the context\'s namespace)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand reconcile" -l request-timeout -d 'How long one request to the API server may go unanswered before it fails (e.g. 30s, 2m; 0 waits forever). Default: 10s to connect, 60s for an answer' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand reconcile" -s v -l v -d 'How much to say on stderr, with kubectl\'s levels: 1 to 5 the stages and their timing (a reconciler\'s debug log), 6 every request to the API server, 8 their bodies too (Secret values and credentials scrubbed). -v is 1, -vv 2' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand reconcile" -l adopt -d 'Move objects that are members of another ApplySet into this one. Without it they are refused (per object: the annotation kubectl-gitops.io/adopt: "true" in git)'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand reconcile" -l allow-empty -d 'Allow applying a render with no objects, which prunes every member of the set'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand reconcile" -l prune-protected -d 'Also prune Namespaces, CustomResourceDefinitions and PersistentVolumeClaims that left git (deleting them deletes everything in them)'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand reconcile" -l no-prune -d 'Keep objects that left git instead of pruning them (a GitSync\'s `prune: false`)'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand reconcile" -l no-watch -d 'Do not watch managed objects (drift is then put back at the next interval)'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand reconcile" -l no-leader-election -d 'Run without leader election (only safe with a single replica, per shard for the controller)'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand reconcile" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand reconcile" -s V -l version -d 'Print version'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand controller" -l shard -d 'Own the GitSyncs labelled kubectl-gitops.io/shard=NAME (default: those without the label)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand controller" -l watch-namespace -d 'Watch GitSyncs in this namespace only (default: every namespace)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand controller" -l default-service-account -d 'The ServiceAccount (in the sync\'s own namespace) a GitSync without spec.serviceAccountName acts as. Without it such syncs are refused (Stalled), so no sync acts as the controller itself' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand controller" -l concurrent-syncs -d 'Syncs reconciled at once' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand controller" -l dependency-retry -d 'How soon a sync waiting for a dependency looks again (a dependency turning Ready wakes it at once anyway)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand controller" -l allow-fetch-to -d 'Let tenants\' sources reach this internal address, network (CIDR) or host name (repeatable). Without it chart repositories and registries at loopback, link-local, private or cluster-internal addresses, and git remotes at loopback or link-local ones, are refused after DNS resolution and redirects' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand controller" -l lease-namespace -d 'Namespace of the shard\'s leader Lease (default: -n or the context\'s namespace)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand controller" -l cache-dir -d 'Where the git caches live (default: $KUBECTL_GITOPS_CACHE_DIR, else $XDG_CACHE_HOME/kubectl-gitops, else ~/.cache/kubectl-gitops)' -r -F
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand controller" -l listen -d 'Serve /healthz, /readyz and /metrics on this address' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand controller" -l log-format -d 'Log format on stderr' -r -f -a "text\t''
json\t''"
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand controller" -l backoff -d 'First retry delay after a failed cycle; doubles per failure' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand controller" -l max-backoff -d 'Longest retry delay after failures' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand controller" -l fetch-timeout -d 'Give up a fetch after this long' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand controller" -l lease-duration -d 'How long a leader\'s claim lasts without renewal' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand controller" -l identity -d 'This replica\'s identity in the Lease and Events (default: $POD_NAME, else host-pid)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand controller" -l shutdown-grace -d 'After SIGTERM, how long the cycle in progress may take to finish; past it no further write is sent, those in flight are answered (each is one request: no object is half written), and nothing is pruned' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand controller" -l concurrency -d 'Requests in flight at most (default: 32; for the controller, all syncs together: 64). The window that follows the API server stays below it' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand controller" -l qps -d 'A client-side cap on requests per second (bursts may go to twice this). Without it the pace follows the API server: fewer requests in flight when it answers 429 Too Many Requests, more while it keeps up, never more than --concurrency' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand controller" -l helm-binary -d 'The helm program that renders Helm charts (default: $GITOPS_HELM, then `helm` on PATH; Helm 3.8 or later)' -r -F
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand controller" -l render-timeout -d 'How long one render may take, helm and kustomize and what they fetch included. At the deadline their processes are killed and the render fails; nothing is applied or pruned' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand controller" -l max-render-bytes -d 'Most bytes one render may read from helm and kustomize, all processes together (e.g. 64Mi, 1Gi). Past it the process is killed and the render fails' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand controller" -l max-render-objects -d 'Most objects one render may produce' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand controller" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand controller" -l context -d 'The kubeconfig context to use (default: its current-context)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand controller" -s n -l namespace -d 'The namespace to work in: where objects that name none go, and where sets, GitSyncs and what a reconciler keeps are looked for (default: the context\'s namespace)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand controller" -l request-timeout -d 'How long one request to the API server may go unanswered before it fails (e.g. 30s, 2m; 0 waits forever). Default: 10s to connect, 60s for an answer' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand controller" -s v -l v -d 'How much to say on stderr, with kubectl\'s levels: 1 to 5 the stages and their timing (a reconciler\'s debug log), 6 every request to the API server, 8 their bodies too (Secret values and credentials scrubbed). -v is 1, -vv 2' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand controller" -l allow-file-sources -d 'Let GitSyncs name file:// URLs and local paths (never the controller\'s own caches)'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand controller" -l no-watch -d 'Do not watch managed objects (drift is then put back at the next interval)'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand controller" -l no-leader-election -d 'Run without leader election (only safe with a single replica, per shard for the controller)'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand controller" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand controller" -s V -l version -d 'Print version'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand get" -s o -l output -d 'Output format' -r -f -a "text\t''
json\t''"
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand get" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand get" -l context -d 'The kubeconfig context to use (default: its current-context)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand get" -s n -l namespace -d 'The namespace to work in: where objects that name none go, and where sets, GitSyncs and what a reconciler keeps are looked for (default: the context\'s namespace)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand get" -l request-timeout -d 'How long one request to the API server may go unanswered before it fails (e.g. 30s, 2m; 0 waits forever). Default: 10s to connect, 60s for an answer' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand get" -s v -l v -d 'How much to say on stderr, with kubectl\'s levels: 1 to 5 the stages and their timing (a reconciler\'s debug log), 6 every request to the API server, 8 their bodies too (Secret values and credentials scrubbed). -v is 1, -vv 2' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand get" -s A -l all-namespaces -d 'Every namespace the caller may list, not just -n\'s (or the context\'s)'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand get" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand get" -s V -l version -d 'Print version'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand sync" -l timeout -d 'How long --wait waits (e.g. 90s, 5m); for apply, also how long one Helm hook may run' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand sync" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand sync" -l context -d 'The kubeconfig context to use (default: its current-context)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand sync" -s n -l namespace -d 'The namespace to work in: where objects that name none go, and where sets, GitSyncs and what a reconciler keeps are looked for (default: the context\'s namespace)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand sync" -l request-timeout -d 'How long one request to the API server may go unanswered before it fails (e.g. 30s, 2m; 0 waits forever). Default: 10s to connect, 60s for an answer' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand sync" -s v -l v -d 'How much to say on stderr, with kubectl\'s levels: 1 to 5 the stages and their timing (a reconciler\'s debug log), 6 every request to the API server, 8 their bodies too (Secret values and credentials scrubbed). -v is 1, -vv 2' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand sync" -l wait -d 'Wait until what was applied is ready (Deployments, StatefulSets, DaemonSets, Jobs, CRDs), or for sync until the controller has handled the request'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand sync" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand sync" -s V -l version -d 'Print version'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand suspend" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand suspend" -l context -d 'The kubeconfig context to use (default: its current-context)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand suspend" -s n -l namespace -d 'The namespace to work in: where objects that name none go, and where sets, GitSyncs and what a reconciler keeps are looked for (default: the context\'s namespace)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand suspend" -l request-timeout -d 'How long one request to the API server may go unanswered before it fails (e.g. 30s, 2m; 0 waits forever). Default: 10s to connect, 60s for an answer' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand suspend" -s v -l v -d 'How much to say on stderr, with kubectl\'s levels: 1 to 5 the stages and their timing (a reconciler\'s debug log), 6 every request to the API server, 8 their bodies too (Secret values and credentials scrubbed). -v is 1, -vv 2' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand suspend" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand suspend" -s V -l version -d 'Print version'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand resume" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand resume" -l context -d 'The kubeconfig context to use (default: its current-context)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand resume" -s n -l namespace -d 'The namespace to work in: where objects that name none go, and where sets, GitSyncs and what a reconciler keeps are looked for (default: the context\'s namespace)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand resume" -l request-timeout -d 'How long one request to the API server may go unanswered before it fails (e.g. 30s, 2m; 0 waits forever). Default: 10s to connect, 60s for an answer' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand resume" -s v -l v -d 'How much to say on stderr, with kubectl\'s levels: 1 to 5 the stages and their timing (a reconciler\'s debug log), 6 every request to the API server, 8 their bodies too (Secret values and credentials scrubbed). -v is 1, -vv 2' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand resume" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand resume" -s V -l version -d 'Print version'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand status" -l applyset -d 'Name of the ApplySet recording what one repository path manages (default: derived from the repository\'s URL, the path and the target namespace, e.g. gitops-platform-deploy-prod-1a2b3c4d; `status` without it lists every set)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand status" -l applyset-namespace -d 'Namespace of the ApplySet\'s parent Secret, which also holds a reconciler\'s status ConfigMap, Lease and Events (default: the target namespace, -n or the context\'s)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand status" -s o -l output -d 'Output format' -r -f -a "text\t''
json\t''"
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand status" -l color -d 'When to color output: auto (a terminal without NO_COLOR), always, never' -r -f -a "auto\t'Color when standard output is a terminal and `NO_COLOR` is unset'
always\t'Always color, even when NO_COLOR is set or output is not a terminal'
never\t'Never color'"
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand status" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand status" -l context -d 'The kubeconfig context to use (default: its current-context)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand status" -s n -l namespace -d 'The namespace to work in: where objects that name none go, and where sets, GitSyncs and what a reconciler keeps are looked for (default: the context\'s namespace)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand status" -l request-timeout -d 'How long one request to the API server may go unanswered before it fails (e.g. 30s, 2m; 0 waits forever). Default: 10s to connect, 60s for an answer' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand status" -s v -l v -d 'How much to say on stderr, with kubectl\'s levels: 1 to 5 the stages and their timing (a reconciler\'s debug log), 6 every request to the API server, 8 their bodies too (Secret values and credentials scrubbed). -v is 1, -vv 2' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand status" -s A -l all-namespaces -d 'Every namespace the caller may list, not just -n\'s (or the context\'s)'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand status" -s V -l version -d 'Print version'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand install" -l image -d 'Container image holding kubectl-gitops, git and kubectl' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand install" -l repo -d 'The git repository: an https://, git:// or file:// URL, or a local path' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand install" -l ref -d 'The git revision to render: a branch, tag or commit (HEAD~2, ...). diff, apply and pr render the working tree without it; a reconciler fetches it at every interval, following a branch as it moves' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand install" -l path -d 'Directory of the manifests inside the repository' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand install" -l interval -d 'Time between full cycles (fetch, plan, apply)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand install" -l target-namespace -d 'Namespace namespace-less objects are applied to, which holds the ApplySet parent too (default: the namespace the reconciler runs in)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand install" -l replicas -d 'Replicas (more than one stand by; a Lease makes sure only one applies)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand install" -l credentials-secret -d 'A Secret in the reconciler\'s namespace holding the https token under the key `token` (create it with `kubectl create secret generic NAME --from-file=token=FILE`). It is mounted into the pod and read with --token-file; the token never appears in the Deployment. Credentials in --repo are refused' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand install" -l secret-namespaces -d 'Namespaces in which the reconciler may manage Secrets (repeat or comma-separate). Reading Secrets is reading every credential in them, so it is granted per namespace only; without this flag no Secret can be managed' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand install" -l token-username -d 'User name sent with the token (GitLab wants oauth2, Bitbucket x-token-auth)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand install" -l drift -d 'What to do with a change made in the cluster outside git: `heal` puts it back; `report` leaves it and records it (status ConfigMap, a DriftDetected Event, the gitops_reconcile_drifted_objects metric). In both modes, what git changes still applies: a new commit\'s changed, added and removed objects (an object git changes is applied whole, which also puts back its drift)' -r -f -a "heal\t'Put drift back: apply git over every change made outside it (the default)'
report\t'Record drift (status, Event, metric) and leave it as it is. Changes git brings (a new commit that renders an object differently, a new object, an object that left git) still apply; an object git changes is applied whole, so its drift goes with it'"
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand install" -l shards -d 'With --controller: also N shard Deployments, each owning the GitSyncs labelled kubectl-gitops.io/shard: shard-<i> (the first Deployment owns unlabelled ones)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand install" -l default-service-account -d 'The ServiceAccount (in the sync\'s own namespace) a GitSync without spec.serviceAccountName acts as. Without it such syncs are refused (Stalled), so no sync acts as the controller itself' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand install" -s n -l namespace -d 'The namespace to work in: where objects that name none go, and where sets, GitSyncs and what a reconciler keeps are looked for (default: the context\'s namespace)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand install" -l controller -d 'Print the GitSync CRD, the controller\'s RBAC and Deployment instead (`kubectl gitops controller`; syncs are then GitSync objects, and --repo/--path do not apply)'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand install" -l crd-only -d 'With --controller: print only the CRD'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand install" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand install" -s V -l version -d 'Print version'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand pr" -s f -l filename -d 'The directory holding the manifests, as kubectl\'s -f spells it (the same as PATH). One directory: it is what the ApplySet tracks, so applying one file of it would prune the objects of the others' -r -f -a "(__fish_complete_directories)"
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand pr" -l applyset -d 'Name of the ApplySet recording what one repository path manages (default: derived from the repository\'s URL, the path and the target namespace, e.g. gitops-platform-deploy-prod-1a2b3c4d; `status` without it lists every set)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand pr" -l applyset-namespace -d 'Namespace of the ApplySet\'s parent Secret, which also holds a reconciler\'s status ConfigMap, Lease and Events (default: the target namespace, -n or the context\'s)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand pr" -l concurrency -d 'Requests in flight at most (default: 32; for the controller, all syncs together: 64). The window that follows the API server stays below it' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand pr" -l qps -d 'A client-side cap on requests per second (bursts may go to twice this). Without it the pace follows the API server: fewer requests in flight when it answers 429 Too Many Requests, more while it keeps up, never more than --concurrency' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand pr" -l helm-binary -d 'The helm program that renders Helm charts (default: $GITOPS_HELM, then `helm` on PATH; Helm 3.8 or later)' -r -F
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand pr" -l render-timeout -d 'How long one render may take, helm and kustomize and what they fetch included. At the deadline their processes are killed and the render fails; nothing is applied or pruned' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand pr" -l max-render-bytes -d 'Most bytes one render may read from helm and kustomize, all processes together (e.g. 64Mi, 1Gi). Past it the process is killed and the render fails' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand pr" -l max-render-objects -d 'Most objects one render may produce' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand pr" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand pr" -l context -d 'The kubeconfig context to use (default: its current-context)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand pr" -s n -l namespace -d 'The namespace to work in: where objects that name none go, and where sets, GitSyncs and what a reconciler keeps are looked for (default: the context\'s namespace)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand pr" -l request-timeout -d 'How long one request to the API server may go unanswered before it fails (e.g. 30s, 2m; 0 waits forever). Default: 10s to connect, 60s for an answer' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand pr" -s v -l v -d 'How much to say on stderr, with kubectl\'s levels: 1 to 5 the stages and their timing (a reconciler\'s debug log), 6 every request to the API server, 8 their bodies too (Secret values and credentials scrubbed). -v is 1, -vv 2' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand pr" -l branch -d 'Branch to create (default: gitops/<path>-<time>)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand pr" -s m -l message -d 'Commit message (default: derived from the plan summary)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand pr" -l title -d 'Pull request title (default: the commit message\'s first line)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand pr" -l base -d 'The revision a change is measured against: the pull request\'s target branch. diff marks each change "introduced" (the render differs from REV\'s) or "drift" (REV renders it the same: the cluster changed), or with --offline compares with REV\'s render; pr opens the pull request into REV (default: the current branch)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand pr" -l remote -d 'Git remote to push to' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand pr" -l github-repo -d 'GitHub repository as OWNER/NAME (default: inferred from the remote\'s URL)' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand pr" -l api-url -d 'GitHub API base URL' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand pr" -l comment -d 'Create or update the preview comment on this pull request instead of opening one' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand pr" -l ref -d 'The git revision to render: a branch, tag or commit (HEAD~2, ...). diff, apply and pr render the working tree without it; a reconciler fetches it at every interval, following a branch as it moves' -r
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand pr" -l adopt -d 'Move objects that are members of another ApplySet into this one. Without it they are refused (per object: the annotation kubectl-gitops.io/adopt: "true" in git)'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand pr" -l prune-protected -d 'Also prune Namespaces, CustomResourceDefinitions and PersistentVolumeClaims that left git (deleting them deletes everything in them)'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand pr" -l force-conflicts -d 'Take ownership of fields another field manager owns (server-side apply\'s force). Without it, as with kubectl, an object whose apply would change such fields is shown as a conflict, naming the managers and fields, and apply refuses the plan'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand pr" -l show-defaults -d 'Print the fields the server defaults on objects being created (imagePullPolicy, dnsPolicy, ...) instead of one line counting them. Updates always show every change'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand pr" -l verify-unchanged -d 'Dry-run unchanged objects on the server too. By default an object whose live copy shows our last apply still in place (every value we send, every field we owned) is planned as unchanged without a dry-run'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand pr" -l show-secrets -d 'Refused with the reason: a pull request\'s preview always masks Secret values'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand pr" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand pr" -s V -l version -d 'Print version'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand version" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand version" -s V -l version -d 'Print version'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand completion" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand completion" -s V -l version -d 'Print version'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand help; and not __fish_seen_subcommand_from diff apply reconcile controller get sync suspend resume status install pr version completion help" -f -a "diff" -d 'Show what applying the manifests under PATH would change in the cluster'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand help; and not __fish_seen_subcommand_from diff apply reconcile controller get sync suspend resume status install pr version completion help" -f -a "apply" -d 'Apply the manifests under PATH: show the plan, ask, apply in order, prune what left git'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand help; and not __fish_seen_subcommand_from diff apply reconcile controller get sync suspend resume status install pr version completion help" -f -a "reconcile" -d 'Keep the cluster in sync with a git repository, continuously'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand help; and not __fish_seen_subcommand_from diff apply reconcile controller get sync suspend resume status install pr version completion help" -f -a "controller" -d 'Reconcile every GitSync of a shard: many repositories and paths, one process'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand help; and not __fish_seen_subcommand_from diff apply reconcile controller get sync suspend resume status install pr version completion help" -f -a "get" -d 'List GitSyncs: which are out of sync, and why'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand help; and not __fish_seen_subcommand_from diff apply reconcile controller get sync suspend resume status install pr version completion help" -f -a "sync" -d 'Ask the controller to reconcile a GitSync now (fetch included)'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand help; and not __fish_seen_subcommand_from diff apply reconcile controller get sync suspend resume status install pr version completion help" -f -a "suspend" -d 'Stop reconciling a GitSync; its objects stay as they are'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand help; and not __fish_seen_subcommand_from diff apply reconcile controller get sync suspend resume status install pr version completion help" -f -a "resume" -d 'Reconcile a suspended GitSync again'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand help; and not __fish_seen_subcommand_from diff apply reconcile controller get sync suspend resume status install pr version completion help" -f -a "status" -d 'Show the ApplySets you can see, or what the reconciler of one last did'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand help; and not __fish_seen_subcommand_from diff apply reconcile controller get sync suspend resume status install pr version completion help" -f -a "install" -d 'Print the manifests that run the reconciler in a cluster'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand help; and not __fish_seen_subcommand_from diff apply reconcile controller get sync suspend resume status install pr version completion help" -f -a "pr" -d 'Open a pull request with the change under PATH and its cluster preview'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand help; and not __fish_seen_subcommand_from diff apply reconcile controller get sync suspend resume status install pr version completion help" -f -a "version" -d 'Print the version, git commit and build target'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand help; and not __fish_seen_subcommand_from diff apply reconcile controller get sync suspend resume status install pr version completion help" -f -a "completion" -d 'Print a shell completion script'
complete -c kubectl-gitops -n "__fish_kubectl_gitops_using_subcommand help; and not __fish_seen_subcommand_from diff apply reconcile controller get sync suspend resume status install pr version completion help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
